//! The `Table`, and how records become items and items records.

use super::error::TableError;
use super::options::Item;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::ports::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::to_item;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn encode<T: Serialize>(record: &T) -> Result<Item, StoreError> {
    to_item(record).map_err(|e| StoreError::Rejected(Box::new(TableError::Encode(e))))
}

pub(super) fn key_of(item: &Item, attribute: &'static str) -> Result<String, StoreError> {
    match item.get(attribute) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Rejected(Box::new(TableError::MissingKey {
            attribute,
        }))),
    }
}

/// A DynamoDB table whose items have string keys `pk` and `sk`, and whose
/// indexes `{index}` have string keys `{index}pk` and `{index}sk`.
#[derive(Debug, Clone)]
pub struct Table {
    pub(super) client: Client,
    pub(super) name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        item: Item,
        pk: &str,
        sk: &str,
    ) -> Result<T, StoreError> {
        // As `from_item`, with the path of the attribute that does not decode
        // kept in the error, so a person can tell which one to repair.
        let item: serde_dynamo::Item = item.into();
        let deserializer = serde_dynamo::Deserializer::from_attribute_value(
            serde_dynamo::AttributeValue::M(item.into()),
        );
        serde_path_to_error::deserialize(deserializer).map_err(|source| StoreError::Corrupt {
            what: format!("item {pk} / {sk}"),
            source: Box::new(TableError::Decode {
                table: self.name.clone(),
                source,
            }),
        })
    }

    pub(crate) fn decode_any<T: DeserializeOwned>(&self, item: Item) -> Result<T, StoreError> {
        let pk = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let sk = item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        self.decode(item, &pk, &sk)
    }
}
