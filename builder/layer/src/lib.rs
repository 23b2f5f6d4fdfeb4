//! Layer tarballs for strata: deterministic writing, safe extraction, gzip and zstd.
