//! Any input: the parser, the dump, the typed instructions and the error
//! rendering must return (never panic), and a successful parse must dump
//! to one line per instruction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_dockerfile::{instructions, parser};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match parser::parse(source) {
        Ok(parsed) => {
            let dump = parsed.dump();
            assert_eq!(dump.lines().count(), parsed.nodes.len());
            for node in &parsed.nodes {
                assert!(node.start_line <= node.end_line);
                if let Err(e) = instructions::from_node(node) {
                    let _ = e.in_file("Dockerfile", source).to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.in_file("Dockerfile", source).to_string();
        }
    }
    for word in source.split_whitespace() {
        let _ = instructions::parse_mount(word);
        let _ = instructions::parse_go_duration(word);
        let _ = parser::parse_heredoc_word(word);
    }
});
