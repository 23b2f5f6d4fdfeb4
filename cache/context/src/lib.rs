//! Build-context selection and hashing for strata: .dockerignore, wildcards, stat cache.
