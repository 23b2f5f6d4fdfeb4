//! Compiles a strata plan into BuildKit LLB.
