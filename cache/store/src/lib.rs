//! strata's content store: an OCI image layout with crash-safe blob writes and tags.
