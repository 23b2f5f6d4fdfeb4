//! Shell-like word processing: variable expansion, quotes and escapes, as Docker does.
