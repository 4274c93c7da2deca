//! The [`LlnApi`] port over OCSAT's calls: candidates and assessments.

use super::*;

#[async_trait]
impl LlnApi for OcsatClient {
    async fn test_connection(&self) -> Result<(), LlnError> {
        self.call(
            "the test call",
            "",
            reqwest::Method::GET,
            "/organisation",
            None,
        )
        .await
        .map(|_| ())
    }

    async fn create_candidate(
        &self,
        fields: &CandidateFields,
    ) -> Result<RemoteCandidate, LlnError> {
        const WHAT: &str = "the new candidate";
        let answer = self
            .call(
                WHAT,
                "",
                reqwest::Method::POST,
                "/candidates",
                Some(json_body(fields)?),
            )
            .await?;
        candidate_from(WHAT, &answer.body)
    }

    async fn candidate(&self, id: &CandidateId) -> Result<Option<RemoteCandidate>, LlnError> {
        const WHAT: &str = "candidate";
        match self
            .call(
                WHAT,
                id.as_str(),
                reqwest::Method::GET,
                &candidate_path(id),
                None,
            )
            .await
        {
            Ok(answer) => candidate_from(WHAT, &answer.body).map(Some),
            Err(LlnError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_candidate(
        &self,
        username: &str,
        email: &str,
    ) -> Result<Option<RemoteCandidate>, LlnError> {
        if let Some(found) = self.candidates_where("username", username).await? {
            return Ok(Some(found));
        }
        self.candidates_where("email", email).await
    }

    async fn update_candidate(
        &self,
        id: &CandidateId,
        fields: &CandidateFields,
    ) -> Result<RemoteCandidate, LlnError> {
        const WHAT: &str = "candidate";
        let answer = self
            .call(
                WHAT,
                id.as_str(),
                reqwest::Method::PUT,
                &candidate_path(id),
                Some(json_body(fields)?),
            )
            .await?;
        candidate_from(WHAT, &answer.body)
    }

    async fn assessments_page(
        &self,
        modified_after: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<AssessmentPage, LlnError> {
        const WHAT: &str = "the assessments page";
        let query = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair(
                    "modifiedAfter",
                    &modified_after.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                )
                .append_pair("pageSize", &PAGE_SIZE.to_string());
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            query.finish()
        };
        let answer = self
            .call(
                WHAT,
                "",
                reqwest::Method::GET,
                &format!("/assessments?{query}"),
                None,
            )
            .await?;
        let page: AssessmentPageIn = read(WHAT, &answer.body)?;
        let assessments = page
            .items
            .into_iter()
            .map(Assessment::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LlnError::Malformed {
                what: WHAT,
                source: Box::new(e),
            })?;
        Ok(AssessmentPage {
            assessments,
            next_cursor: page.next_cursor,
        })
    }
}
