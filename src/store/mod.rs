//! The durable store of requests, decisions, grants, events and the audit log.
