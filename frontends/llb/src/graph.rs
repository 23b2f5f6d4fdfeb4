//! The vertex store: marshals ops, digests them, and assembles the final
//! `Definition` in the order `llb.Marshal` produces.

use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// One output of one vertex: what an op's input points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct OutputRef {
    /// `sha256:…` of the marshalled op.
    pub digest: String,
    /// Output index of that op.
    pub index: i64,
}

impl OutputRef {
    pub(crate) fn to_input(&self) -> pb::Input {
        pb::Input {
            digest: self.digest.clone(),
            index: self.index,
        }
    }
}

struct Vertex {
    bytes: Vec<u8>,
    inputs: Vec<String>,
}

/// Collects marshalled ops by digest. Adding the same op twice is a no-op
/// (the first metadata wins), as in BuildKit's marshal cache.
#[derive(Default)]
pub(crate) struct Graph {
    vertices: BTreeMap<String, Vertex>,
    metadata: BTreeMap<String, pb::OpMetadata>,
}

impl Graph {
    /// Marshals `op`, records it with `metadata`, and returns its output 0.
    pub(crate) fn add(&mut self, op: &pb::Op, metadata: pb::OpMetadata) -> OutputRef {
        let bytes = op.encode_to_vec();
        let digest = digest_of(&bytes);
        if !self.vertices.contains_key(&digest) {
            let inputs = op.inputs.iter().map(|i| i.digest.clone()).collect();
            self.vertices
                .insert(digest.clone(), Vertex { bytes, inputs });
            self.metadata.insert(digest.clone(), metadata);
        }
        OutputRef { digest, index: 0 }
    }

    /// The definition whose terminal op points at `target` (none for an
    /// empty result, as for `FROM scratch` alone). Ops come in depth-first
    /// post-order from the target, inputs in their listed order, so only
    /// reachable ops are emitted and every op follows its inputs.
    pub(crate) fn finish(&self, target: Option<&OutputRef>) -> pb::Definition {
        let mut def = pb::Definition::default();
        let Some(target) = target else {
            return def;
        };
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        // Iterative DFS: (digest, next input to visit).
        let mut stack: Vec<(&str, usize)> = vec![(target.digest.as_str(), 0)];
        seen.insert(target.digest.as_str());
        while let Some((digest, next)) = stack.pop() {
            let Some(vertex) = self.vertices.get(digest) else {
                continue;
            };
            if let Some(input) = vertex.inputs.get(next) {
                stack.push((digest, next + 1));
                if seen.insert(input.as_str()) {
                    stack.push((input.as_str(), 0));
                }
            } else {
                order.push(digest);
            }
        }
        for digest in order {
            if let Some(vertex) = self.vertices.get(digest) {
                def.def.push(vertex.bytes.clone());
            }
            if let Some(md) = self.metadata.get(digest) {
                def.metadata.insert(digest.to_string(), md.clone());
            }
        }
        let terminal = pb::Op {
            inputs: vec![target.to_input()],
            ..Default::default()
        };
        let bytes = terminal.encode_to_vec();
        let digest = digest_of(&bytes);
        def.def.push(bytes);
        def.metadata.insert(
            digest,
            pb::OpMetadata {
                caps: BTreeMap::from([("constraints".into(), true), ("platform".into(), true)]),
                ..Default::default()
            },
        );
        def
    }
}

/// `sha256:<hex>` of some bytes: the digest BuildKit gives a marshalled op.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Metadata carrying a progress name and, optionally, the Dockerfile command.
pub(crate) fn named(name: &str, command: Option<&str>) -> pb::OpMetadata {
    let mut description = BTreeMap::new();
    description.insert("llb.customname".to_string(), name.to_string());
    if let Some(c) = command {
        description.insert(
            "com.docker.dockerfile.v1.command".to_string(),
            c.to_string(),
        );
    }
    pb::OpMetadata {
        description,
        ..Default::default()
    }
}
