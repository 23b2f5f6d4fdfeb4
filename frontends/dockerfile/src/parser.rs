//! Dockerfile syntax: lines, directives, continuations, heredocs → a syntax tree.
