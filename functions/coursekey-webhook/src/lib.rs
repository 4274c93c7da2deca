//! coursekey-webhook
