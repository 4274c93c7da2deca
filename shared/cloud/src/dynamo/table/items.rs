//! One item: put, read, deleted.

use super::base::{Table, encode, key_of, n, s};
use super::error::{conditional, store_error};
use super::options::Condition;
use domain::ports::{StoreError, Written};
use serde::Serialize;
use serde::de::DeserializeOwned;

impl Table {
    /// Writes one record (which must serialise with string `pk` and `sk`) under `condition`.
    pub async fn put<T: Serialize>(
        &self,
        record: &T,
        condition: Condition,
    ) -> Result<Written, StoreError> {
        let mut item = encode(record)?;
        let pk = key_of(&item, "pk")?;
        let sk = key_of(&item, "sk")?;
        let mut request = self.client.put_item().table_name(&self.name);
        match condition {
            Condition::None => {}
            Condition::NotExists => {
                request = request.condition_expression("attribute_not_exists(pk)")
            }
            Condition::VersionIs(version) => {
                item.insert("version".to_owned(), n(version.saturating_add(1)));
                request = request
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":version", n(version));
            }
        }
        match request.set_item(Some(item)).send().await {
            Ok(_) => Ok(Written::Done),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                match condition {
                    Condition::NotExists => Ok(Written::AlreadyDone),
                    _ => Err(StoreError::Conflict {
                        what: format!("item {pk} / {sk}"),
                    }),
                }
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Writes one record unless an item with its key is there whose string
    /// `attribute` is other than `value` (someone else holds it):
    /// [`Written::AlreadyDone`] then, changing nothing.
    pub async fn put_unless_held<T: Serialize>(
        &self,
        record: &T,
        attribute: &str,
        value: &str,
    ) -> Result<Written, StoreError> {
        let item = encode(record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .send()
            .await;
        Ok(if conditional(result)? {
            Written::Done
        } else {
            Written::AlreadyDone
        })
    }

    /// Reads one item (strongly consistent).
    pub async fn get<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output
            .item
            .map(|item| self.decode(item, pk, sk))
            .transpose()
    }

    /// Deletes one item only when its string `attribute` is `value`.
    pub async fn delete_if(
        &self,
        pk: &str,
        sk: &str,
        attribute: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("#a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .send()
            .await;
        conditional(result)
    }

    /// Deletes one item; deleting an item that is not there is fine.
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
