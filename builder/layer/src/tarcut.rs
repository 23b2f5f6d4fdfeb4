//! Cut points for a tar stream that did not come from [`crate::LayerWriter`]
//! (a layer being recompressed): the stream is walked header by header and
//! the same points are offered as the writer offers, so a layer strata
//! wrote, recompressed, gives the blob strata writes in that compression,
//! and its chunks can be reused.
//!
//! Every byte is passed on unchanged: parsing only decides where cuts go.
//! A stream that stops looking like a tar is copied on with a cut point
//! every step, so memory stays bounded whatever the input.

use crate::compress::Sink;
use crate::cut::{CutPoint, name_hash};
use crate::out::BlobSink;
use crate::tarfmt::{BLOCK, padding};
use std::io::{self, Read, Write};

/// Meta entries larger than this are not parsed (a PAX header is a few
/// hundred bytes).
const MAX_META: u64 = 1 << 20;

/// Copies the tar stream `tar` into `sink`, offering cut points after each
/// entry and inside file data, as the layer writer does.
pub(crate) fn copy_with_cuts<W: BlobSink>(
    tar: &mut dyn Read,
    sink: &mut Sink<W>,
) -> io::Result<()> {
    let mut after_last: Option<CutPoint> = None;
    let mut block = [0u8; BLOCK];
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        // One entry: meta headers (PAX, GNU long names), then its header.
        let mut len = 0u64;
        let mut meta = Meta::default();
        let (name, size) = loop {
            let n = read_full(tar, &mut block)?;
            if n < BLOCK {
                // The end, or a truncated stream.
                return sink.write_all(&block[..n]);
            }
            if len == 0 && block.iter().all(|b| *b == 0) {
                // The end-of-archive blocks stay with the last chunk.
                sink.write_all(&block)?;
                return copy_rest(tar, sink, &mut buf);
            }
            if len == 0
                && let Some(point) = after_last.take()
            {
                sink.cut_point(point)?;
            }
            sink.write_all(&block)?;
            len += BLOCK as u64;
            let Some(size) = meta.size.take().or_else(|| octal(&block[124..136])) else {
                return copy_rest(tar, sink, &mut buf);
            };
            match block[156] {
                b'x' | b'g' | b'L' | b'K' if size <= MAX_META => {
                    let padded = size + padding(size) as u64;
                    let mut data = vec![0; padded as usize];
                    let n = read_full(tar, &mut data)?;
                    sink.write_all(&data[..n])?;
                    if n < data.len() {
                        return Ok(());
                    }
                    len += padded;
                    meta.learn(block[156], &data[..size as usize]);
                }
                b'x' | b'g' | b'L' | b'K' => return copy_rest(tar, sink, &mut buf),
                flag => {
                    let name = meta.path.take().unwrap_or_else(|| ustar_name(&block));
                    // Header-only types carry no data whatever their size
                    // field says (as Go's archive/tar reads them).
                    let size = if (b'1'..=b'6').contains(&flag) {
                        0
                    } else {
                        size
                    };
                    break (name, size);
                }
            }
        };
        if !copy_data(tar, sink, size, &mut buf)? {
            return Ok(());
        }
        len += size + padding(size) as u64;
        after_last = Some(CutPoint::AfterEntry {
            hash: name_hash(&name),
            len,
        });
    }
}

/// What meta entries said about the next header.
#[derive(Default)]
struct Meta {
    path: Option<String>,
    size: Option<u64>,
}

impl Meta {
    fn learn(&mut self, flag: u8, data: &[u8]) {
        match flag {
            b'x' => {
                for (key, value) in pax_records(data) {
                    match key {
                        "path" => self.path = Some(String::from_utf8_lossy(value).into_owned()),
                        "size" => {
                            self.size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
                        }
                        _ => {}
                    }
                }
            }
            b'L' => {
                let name = data.split(|b| *b == 0).next().unwrap_or_default();
                self.path = Some(String::from_utf8_lossy(name).into_owned());
            }
            _ => {}
        }
    }
}

/// `len key=value\n` records; stops at the first malformed one.
fn pax_records(mut data: &[u8]) -> Vec<(&str, &[u8])> {
    let mut out = Vec::new();
    while let Some(space) = data.iter().position(|b| *b == b' ') {
        let Some(len) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > space + 1 && *l <= data.len())
        else {
            break;
        };
        let record = &data[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|b| *b == b'=')
            && let Ok(key) = std::str::from_utf8(&record[..eq])
        {
            out.push((key, &record[eq + 1..]));
        }
        data = &data[len..];
    }
    out
}

/// The name in a ustar header: `prefix/name`, or `name`.
fn ustar_name(block: &[u8; BLOCK]) -> String {
    let field = |range: std::ops::Range<usize>| {
        let bytes = &block[range];
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let name = field(0..100);
    let prefix = if &block[257..263] == b"ustar\0" {
        field(345..500)
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// A numeric field: octal (NUL or space terminated), or base-256 with the
/// high bit set; `None` when it is neither.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Copies `size` bytes of data and their padding, offering a cut point at
/// each multiple of the sink's step; false when the stream ended early.
fn copy_data<W: BlobSink>(
    tar: &mut dyn Read,
    sink: &mut Sink<W>,
    size: u64,
    buf: &mut [u8],
) -> io::Result<bool> {
    let step = sink.step();
    let mut done = 0u64;
    while done < size {
        let want = (size - done).min(step - done % step).min(buf.len() as u64) as usize;
        let n = read_full_into(tar, sink, want, buf)?;
        done += n as u64;
        if n < want {
            return Ok(false);
        }
        if done.is_multiple_of(step) && done < size {
            sink.cut_point(CutPoint::FileData)?;
        }
    }
    let pad = padding(size);
    let n = read_full(tar, &mut buf[..pad])?;
    sink.write_all(&buf[..n])?;
    Ok(n == pad)
}

/// Copies the rest of the stream with a cut point every step.
fn copy_rest<W: BlobSink>(
    tar: &mut dyn Read,
    sink: &mut Sink<W>,
    buf: &mut [u8],
) -> io::Result<()> {
    while copy_data(tar, sink, sink.step().min(1 << 30), buf)? {
        sink.cut_point(CutPoint::FileData)?;
    }
    Ok(())
}

/// Reads `want` bytes into the sink (straight into the chunk being
/// filled), fewer when the stream ends; returns how many.
fn read_full_into<W: BlobSink>(
    r: &mut dyn Read,
    sink: &mut Sink<W>,
    want: usize,
    scratch: &mut [u8],
) -> io::Result<usize> {
    let mut n = 0;
    while n < want {
        match sink.read_from(r, want - n, scratch) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
