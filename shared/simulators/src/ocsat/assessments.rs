//! Assessments modified after a date, in pages with an opaque cursor.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssessmentQuery {
    modified_after: Option<String>,
    page_size: Option<String>,
    cursor: Option<String>,
}

fn field_error(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "error": "validation_failed",
            "message": format!("{field} {message}"),
            "field": field,
            "fields": [{"field": field, "message": message}],
        })),
    )
        .into_response()
}

/// The cursor is `{modifiedAt as RFC 3339}|{id}` of the last item served, url-safe
/// (opaque to clients).
fn encode_cursor(a: &SimAssessment) -> String {
    format!("{}|{}", a.modified_at.to_rfc3339(), a.id)
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (at, id) = cursor.split_once('|')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some((at, id.to_owned()))
}

pub(super) async fn assessments(
    State(sim): State<OcsatSim>,
    Query(query): Query<AssessmentQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, Utc::now()) {
            return refused;
        }
        let Some(after) = query.modified_after.as_deref() else {
            return field_error("modifiedAfter", "is required");
        };
        let Ok(after) = DateTime::parse_from_rfc3339(after) else {
            return field_error("modifiedAfter", "must be an RFC 3339 date and time");
        };
        let after = after.with_timezone(&Utc);
        let page_size = match query.page_size.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_PAGE_SIZE,
            Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => return field_error("pageSize", "must be between 1 and 100"),
        };
        let from = match query.cursor.as_deref().map(decode_cursor) {
            None => None,
            Some(Some(position)) => Some(position),
            Some(None) => return field_error("cursor", "is not a cursor this API gave"),
        };
        let mut items: Vec<SimAssessment> = sim
            .lock()
            .assessments
            .iter()
            .filter(|a| a.modified_at > after)
            .filter(|a| {
                from.as_ref()
                    .is_none_or(|(at, id)| (a.modified_at, &a.id) > (*at, id))
            })
            .cloned()
            .collect();
        items.sort_by(|a, b| (a.modified_at, &a.id).cmp(&(b.modified_at, &b.id)));
        let more = items.len() > page_size;
        items.truncate(page_size);
        let next = if more {
            items.last().map(encode_cursor)
        } else {
            None
        };
        axum::Json(serde_json::json!({ "items": items, "nextCursor": next })).into_response()
    })();
    finish(&sim, answer)
}
