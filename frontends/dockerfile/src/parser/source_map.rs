//! Where the text of an instruction is in the file.
//!
//! An instruction's logical line joins several physical lines (line
//! continuations drop the escape character, the newline, comment and blank
//! lines). A [`SourceMap`] remembers, for each physical piece, its line
//! number, where it starts in the logical line and where in the physical
//! line, so a byte offset in the logical text maps back to a line and a
//! column for error messages.

/// One physical line's part of a logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// 1-based line number.
    line: usize,
    /// Byte offset in the logical line where this piece starts.
    logical: usize,
    /// The physical line, without its line ending.
    text: String,
    /// Byte offset in `text` where the piece starts (after leading blanks
    /// on the first line).
    offset: usize,
}

/// Maps byte offsets of an instruction's text to lines and columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    segments: Vec<Segment>,
    /// Offset of the node's own text in the logical line (non-zero for the
    /// trigger of an `ONBUILD`).
    base: usize,
}

impl SourceMap {
    /// Records that the logical line continues, at byte `logical`, with
    /// `text[offset..]` of physical line `line`.
    pub(crate) fn push(&mut self, line: usize, logical: usize, text: &str, offset: usize) {
        self.segments.push(Segment {
            line,
            logical,
            text: text.to_string(),
            offset,
        });
    }

    /// The same map for a text that starts `shift` bytes further into the
    /// logical line.
    pub(crate) fn shifted(&self, shift: usize) -> SourceMap {
        SourceMap {
            segments: self.segments.clone(),
            base: self.base + shift,
        }
    }

    /// The 1-based line and column of byte `offset` of the node's text,
    /// `None` when the map is empty.
    pub fn position(&self, offset: usize) -> Option<(usize, usize)> {
        let logical = self.base + offset;
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.logical <= logical)
            .or_else(|| self.segments.first())?;
        let mut byte = (seg.offset + logical.saturating_sub(seg.logical)).min(seg.text.len());
        while !seg.text.is_char_boundary(byte) {
            byte -= 1;
        }
        Some((seg.line, seg.text[..byte].chars().count() + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_the_physical_line() {
        let mut map = SourceMap::default();
        // "  RUN a \" then "  bé c"
        map.push(3, 0, "  RUN a \\", 2);
        map.push(4, 6, "  bé c", 0);
        assert_eq!(map.position(0), Some((3, 3)));
        assert_eq!(map.position(4), Some((3, 7)));
        assert_eq!(map.position(6), Some((4, 1)));
        // After the two-byte é: column counts characters.
        assert_eq!(map.position(6 + 5), Some((4, 5)));
        assert_eq!(map.position(999), Some((4, 7)));
        assert_eq!(map.shifted(4).position(2), Some((4, 1)));
        assert_eq!(SourceMap::default().position(0), None);
    }
}
