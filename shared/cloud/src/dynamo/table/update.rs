//! Changes to an existing item: fields set, numbers added (once), a claim,
//! map entries added or set.

use super::base::{Table, encode, key_of, n, s};
use super::error::{TableError, conditional, store_error};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use domain::ports::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

impl Table {
    /// Sets the fields of `fields` (a serde record) on an existing item.
    /// Returns `false`, changing nothing, when there is no such item.
    pub async fn update<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        fields: &T,
    ) -> Result<bool, StoreError> {
        self.update_guarded(pk, sk, fields, None).await
    }

    /// As [`Table::update`], only while the item's string `attribute` is still
    /// `value`: `false`, changing nothing, when it is not (someone changed it
    /// since it was read) or there is no such item.
    pub async fn update_where<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        fields: &T,
        (attribute, value): (&str, &str),
    ) -> Result<bool, StoreError> {
        self.update_guarded(pk, sk, fields, Some((attribute, value)))
            .await
    }

    async fn update_guarded<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        fields: &T,
        guard: Option<(&str, &str)>,
    ) -> Result<bool, StoreError> {
        let fields = encode(fields)?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk));
        request = match guard {
            None => request.condition_expression("attribute_exists(pk)"),
            Some((attribute, value)) => request
                .condition_expression("attribute_exists(pk) AND #guard = :guard")
                .expression_attribute_names("#guard", attribute)
                .expression_attribute_values(":guard", s(value)),
        };
        let mut sets = Vec::with_capacity(fields.len());
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if name == "pk" || name == "sk" {
                continue;
            }
            sets.push(format!("#f{i} = :f{i}"));
            request = request
                .expression_attribute_names(format!("#f{i}"), name)
                .expression_attribute_values(format!(":f{i}"), value);
        }
        if sets.is_empty() {
            let output = self
                .client
                .get_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .projection_expression("pk")
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            return Ok(output.item.is_some());
        }
        conditional(
            request
                .update_expression(format!("SET {}", sets.join(", ")))
                .send()
                .await,
        )
    }

    /// Atomically adds `by` to the number `attribute` of an existing item (a
    /// missing attribute counts as 0) and returns the item as it is afterwards.
    /// Returns `None`, changing nothing, when there is no such item.
    pub async fn increment<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        attribute: &str,
        by: u64,
    ) -> Result<Option<T>, StoreError> {
        self.add_numbers(pk, sk, &[(attribute, by)]).await
    }

    /// Atomically adds each number to its attribute of an existing item
    /// (missing attributes count as 0) and returns the item as it is afterwards;
    /// `None`, changing nothing, when there is no such item.
    pub async fn add_numbers<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        adds: &[(&str, u64)],
    ) -> Result<Option<T>, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        let mut parts = Vec::with_capacity(adds.len());
        for (i, (name, by)) in adds.iter().enumerate() {
            parts.push(format!("#a{i} :a{i}"));
            request = request
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(format!(":a{i}"), n(*by));
        }
        let result = request
            .update_expression(format!("ADD {}", parts.join(", ")))
            .send()
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(|item| self.decode(item, pk, sk))
                .transpose(),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Adds `key` to the string set `set` of an existing item and, in the same
    /// atomic update, each number to its key in the map attribute `map` (which
    /// must exist) — only when `key` is not in the set yet. False, changing
    /// nothing, when it was (or there is no such item).
    pub async fn add_once(
        &self,
        pk: &str,
        sk: &str,
        set: &str,
        key: &str,
        map: &str,
        adds: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#set) OR NOT contains(#set, :key))",
            )
            .expression_attribute_names("#set", set)
            .expression_attribute_values(":key", s(key))
            .expression_attribute_values(":keys", AttributeValue::Ss(vec![key.to_owned()]));
        let mut parts = vec!["#set :keys".to_owned()];
        for (i, (name, by)) in adds.iter().enumerate() {
            if i == 0 {
                request = request.expression_attribute_names("#map", map);
            }
            parts.push(format!("#map.#k{i} :v{i}"));
            request = request
                .expression_attribute_names(format!("#k{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), n(*by));
        }
        conditional(
            request
                .update_expression(format!("ADD {}", parts.join(", ")))
                .send()
                .await,
        )
    }

    /// A lease: writes `record` (with string `pk`/`sk`, a string `holder` and a
    /// number `expires_at`) only when no item has its key, the stored holder is
    /// this `holder`, or the stored `expires_at` is before `now`. Returns the item
    /// it replaced (`Ok(Ok(old))`), or the item that holds it (`Ok(Err(current))`).
    pub async fn claim<T: Serialize, O: DeserializeOwned>(
        &self,
        record: &T,
        holder: &str,
        now: i64,
    ) -> Result<Result<Option<O>, Option<O>>, StoreError> {
        let item = encode(record)?;
        let pk = key_of(&item, "pk")?;
        let sk = key_of(&item, "sk")?;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR #holder = :holder OR #expires < :now",
            )
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Ok(output
                .attributes
                .filter(|item| !item.is_empty())
                .map(|item| self.decode(item, &pk, &sk))
                .transpose()?)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Err(self.get(&pk, &sk).await?))
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Atomically adds each number to its key in the map attribute `map` of an
    /// existing item (missing keys count as 0; the map must exist). Returns
    /// false, changing nothing, when there is no such item.
    pub async fn add_to_map(
        &self,
        pk: &str,
        sk: &str,
        map: &str,
        adds: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        if adds.is_empty() {
            return Ok(true);
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#map", map);
        let mut parts = Vec::with_capacity(adds.len());
        for (i, (key, by)) in adds.iter().enumerate() {
            parts.push(format!("#map.#k{i} :v{i}"));
            request = request
                .expression_attribute_names(format!("#k{i}"), *key)
                .expression_attribute_values(format!(":v{i}"), n(*by));
        }
        let result = request
            .update_expression(format!("ADD {}", parts.join(", ")))
            .send()
            .await;
        conditional(result)
    }

    /// Sets `key` of the map attribute `map` of an existing item to `value`
    /// (a serde value), creating the map first when the item has none. False,
    /// changing nothing, when there is no such item.
    pub async fn set_in_map<V: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        map: &str,
        key: &str,
        value: &V,
    ) -> Result<bool, StoreError> {
        let value: AttributeValue = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
            .map_err(|e| StoreError::Rejected(Box::new(TableError::Encode(e))))?;
        let set = || {
            self.client
                .update_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression("attribute_exists(pk) AND attribute_exists(#map)")
                .update_expression("SET #map.#key = :value")
                .expression_attribute_names("#map", map)
                .expression_attribute_names("#key", key)
                .expression_attribute_values(":value", value.clone())
                .send()
        };
        if conditional(set().await)? {
            return Ok(true);
        }
        // No item, or an item written before it had the map: make the map.
        let made = conditional(
            self.client
                .update_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression("attribute_exists(pk)")
                .update_expression("SET #map = if_not_exists(#map, :empty)")
                .expression_attribute_names("#map", map)
                .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
                .send()
                .await,
        )?;
        if !made {
            return Ok(false);
        }
        conditional(set().await)
    }
}
