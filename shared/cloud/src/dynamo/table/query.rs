//! Queries of a partition or an index, every page followed.

use super::base::{Table, s};
use super::error::store_error;
use super::options::{Item, QUERY_PAGE, QueryOptions, SkRange};
use domain::ports::StoreError;
use serde::de::DeserializeOwned;

impl Table {
    /// Every item under `pk` whose sort key begins with `sk_prefix` (all of them
    /// when `None`), strongly consistent, following every page.
    pub async fn query<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        let range = sk_prefix.map_or(SkRange::Any, |prefix| SkRange::Prefix(prefix.to_owned()));
        self.query_items(None, pk, &range, options).await
    }

    /// Items under `pk` whose sort keys are in `sk` (strongly consistent),
    /// following every page until `options.limit`.
    pub async fn query_range<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(None, pk, sk, options).await
    }

    /// Items of a global secondary index (eventually consistent), following every page.
    pub async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(Some(index), pk, sk, options).await
    }

    /// Items of a global secondary index as [`Table::query_index`], each item
    /// decoded on its own: those that do not decode are returned apart (raw,
    /// with why), so one bad item does not hide the others.
    #[allow(clippy::type_complexity)]
    pub async fn query_index_checked<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<(Vec<T>, Vec<(Item, StoreError)>), StoreError> {
        let items = self.query_raw(Some(index), pk, sk, options).await?;
        let mut good = Vec::with_capacity(items.len());
        let mut bad = Vec::new();
        for item in items {
            match self.decode_any(item.clone()) {
                Ok(value) => good.push(value),
                Err(error) => bad.push((item, error)),
            }
        }
        Ok((good, bad))
    }

    /// Items under `pk` as [`Table::query`], each decoded on its own: those
    /// that do not decode are returned apart (raw, with why), so one bad item
    /// does not hide the others.
    #[allow(clippy::type_complexity)]
    pub async fn query_checked<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        options: QueryOptions,
    ) -> Result<(Vec<T>, Vec<(Item, StoreError)>), StoreError> {
        let range = sk_prefix.map_or(SkRange::Any, |prefix| SkRange::Prefix(prefix.to_owned()));
        let items = self.query_raw(None, pk, &range, options).await?;
        let mut good = Vec::with_capacity(items.len());
        let mut bad = Vec::new();
        for item in items {
            match self.decode_any(item.clone()) {
                Ok(value) => good.push(value),
                Err(error) => bad.push((item, error)),
            }
        }
        Ok((good, bad))
    }

    /// One call of a query of the partition `pk` (strongly consistent), in
    /// sort key order: at most `limit` items whose sort key begins with
    /// `sk_prefix`, from just after the sort key `after` (one this call
    /// returned before, or built from a known item's keys) on. Whether there
    /// may be more (DynamoDB stopped at the limit or at its 1 MB page).
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<T>, bool), StoreError> {
        let start =
            after.map(|sk| Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))]));
        let (items, last) = self
            .one_page(None, pk, Some(sk_prefix), None, start, limit)
            .await?;
        Ok((items, last.is_some()))
    }

    /// One call of a query of an index's partition `pk`, in sort key order: at
    /// most `limit` items are read, from just after `start` (a key this call or
    /// an earlier one returned, or one built from a known item's keys) on; of
    /// those, only the items whose string `attribute` contains `value` (when
    /// `contains` is given) are returned. The key to go on from is returned when
    /// there may be more. Eventually consistent, as every index read.
    pub async fn query_index_page<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        contains: Option<(&str, &str)>,
        start: Option<Item>,
        limit: u32,
    ) -> Result<(Vec<T>, Option<Item>), StoreError> {
        self.one_page(Some(index), pk, None, contains, start, limit)
            .await
    }

    /// One query call of the partition `pk` of the table (strongly consistent)
    /// or of an index: at most `limit` items whose sort key begins with
    /// `sk_prefix` (any, when `None`), from just after `start`, those whose
    /// `attribute` contains `value` (when `contains` is given) kept; the key to
    /// go on from when there may be more.
    async fn one_page<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        pk: &str,
        sk_prefix: Option<&str>,
        contains: Option<(&str, &str)>,
        start: Option<Item>,
        limit: u32,
    ) -> Result<(Vec<T>, Option<Item>), StoreError> {
        let (pk_name, sk_name) = match index {
            Some(index) => (format!("{index}pk"), format!("{index}sk")),
            None => ("pk".to_owned(), "sk".to_owned()),
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.name)
            .set_index_name(index.map(str::to_owned))
            .set_consistent_read(index.is_none().then_some(true))
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        request = match sk_prefix {
            Some(prefix) => request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":sk", s(prefix)),
            None => request.key_condition_expression("#pk = :pk"),
        };
        if let Some((attribute, value)) = contains {
            request = request
                .filter_expression("contains(#f, :f)")
                .expression_attribute_names("#f", attribute)
                .expression_attribute_values(":f", s(value));
        }
        let output = request.send().await.map_err(store_error)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| self.decode_any(item))
            .collect::<Result<Vec<T>, _>>()?;
        let last = output.last_evaluated_key.filter(|key| !key.is_empty());
        Ok((items, last))
    }

    /// One call of a scan of the whole table (every tenant's items: for an
    /// operator's repair, never for a request), keeping the items whose sort key
    /// is `sk` and that have no attribute `missing`; at most `limit` items are
    /// read from after `start`. Returns them raw, with the key to go on from.
    pub async fn scan_missing(
        &self,
        sk: &str,
        missing: &str,
        start: Option<Item>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let output = self
            .client
            .scan()
            .table_name(&self.name)
            .filter_expression("#sk = :sk AND attribute_not_exists(#missing)")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_names("#missing", missing)
            .expression_attribute_values(":sk", s(sk))
            .consistent_read(true)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        let last = output.last_evaluated_key.filter(|key| !key.is_empty());
        Ok((output.items.unwrap_or_default(), last))
    }

    async fn query_items<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        pk: &str,
        range: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_raw(index, pk, range, options)
            .await?
            .into_iter()
            .map(|item| self.decode_any(item))
            .collect()
    }

    async fn query_raw(
        &self,
        index: Option<&str>,
        pk: &str,
        range: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_name, sk_name) = match index {
            Some(index) => (format!("{index}pk"), format!("{index}sk")),
            None => ("pk".to_owned(), "sk".to_owned()),
        };
        let sk_condition = match range {
            SkRange::Any => None,
            SkRange::Prefix(_) => Some("begins_with(#sk, :sk)"),
            SkRange::Between(_, _) => Some("#sk BETWEEN :sk AND :sk2"),
            SkRange::AtMost(_) => Some("#sk <= :sk"),
            SkRange::AtLeast(_) => Some("#sk >= :sk"),
        };
        let key_condition = match sk_condition {
            Some(condition) => format!("#pk = :pk AND {condition}"),
            None => "#pk = :pk".to_owned(),
        };

        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = options.limit.map(|limit| limit.saturating_sub(found.len()));
            if remaining == Some(0) {
                break;
            }
            // A page is at most QUERY_PAGE items unless asked otherwise: a
            // partition of thousands (an offering's enrolments) comes in
            // several short calls, each well within the SDK's attempt timeout
            // even on a slow store, instead of one long one.
            let page = options.page_size.unwrap_or(QUERY_PAGE);
            let page_limit = Some(match remaining {
                Some(rest) => page.min(u32::try_from(rest).unwrap_or(u32::MAX)),
                None => page,
            });
            let mut request = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(&key_condition)
                .expression_attribute_names("#pk", &pk_name)
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(!options.newest_first)
                .set_index_name(index.map(str::to_owned))
                .set_consistent_read(index.is_none().then_some(true))
                .set_limit(page_limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start.take());
            match range {
                SkRange::Any => {}
                SkRange::Prefix(value) | SkRange::AtMost(value) | SkRange::AtLeast(value) => {
                    request = request
                        .expression_attribute_names("#sk", &sk_name)
                        .expression_attribute_values(":sk", s(value));
                }
                SkRange::Between(from, to) => {
                    request = request
                        .expression_attribute_names("#sk", &sk_name)
                        .expression_attribute_values(":sk", s(from))
                        .expression_attribute_values(":sk2", s(to));
                }
            }
            let output = request.send().await.map_err(store_error)?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        if let Some(limit) = options.limit {
            found.truncate(limit);
        }
        Ok(found)
    }
}
