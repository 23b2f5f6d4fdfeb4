// Command zstd-chunked-verify checks zstd:chunked blobs with containers/storage's
// own partial-pull code (the Debian package golang-github-containers-storage-dev,
// 1.43) and, for what newer containers/storage adds, with tar-split's own
// assembler (golang-github-vbatts-tar-split-dev):
//
//   - chunked.GetDiffer reads the TOC through the manifest annotations and
//     checks its digest; the differ's ApplyDiff then writes every file from
//     the frames the TOC points at, fetched by range, and checks each file's
//     digest, as a partial pull does;
//   - every chunk of every file is decoded from its frames on its own and
//     checked against its chunkDigest and the file written;
//   - the tar-split frame (the tarsplit-position annotation) has the TOC's
//     tarSplitDigest, and tar-split reassembles from it and the written files
//     a tar whose SHA-256 is the layer's diffID and whose headers match the
//     TOC entries, which is what containers/storage 1.5x requires before it
//     takes a partial pull;
//   - the 64-byte footer names the TOC and tar-split frames.
//
// Usage: zstd-chunked-verify BLOB DIFF-ID ANNOTATIONS-JSON
// Prints "ok FILES CHUNKS".
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/containers/storage"
	"github.com/containers/storage/pkg/archive"
	"github.com/containers/storage/pkg/chunked"
	"github.com/containers/storage/types"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
)

const (
	manifestKey   = "io.github.containers.zstd-chunked.manifest-checksum"
	positionKey   = "io.github.containers.zstd-chunked.manifest-position"
	tarSplitKey   = "io.github.containers.zstd-chunked.tarsplit-position"
	footerSize    = 64
	manifestBlobs = "zstd-chunked-manifest"
)

var footerMagic = []byte("GNUlInUx")

// entry is a TOC entry, with the field names of containers/storage's
// FileMetadata.
type entry struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Linkname    string            `json:"linkName"`
	Mode        int64             `json:"mode"`
	Size        int64             `json:"size"`
	UID         int               `json:"uid"`
	GID         int               `json:"gid"`
	ModTime     *time.Time        `json:"modtime"`
	AccessTime  *time.Time        `json:"accesstime"`
	ChangeTime  *time.Time        `json:"changetime"`
	Devmajor    int64             `json:"devMajor"`
	Devminor    int64             `json:"devMinor"`
	Xattrs      map[string]string `json:"xattrs"`
	Digest      string            `json:"digest"`
	Offset      int64             `json:"offset"`
	EndOffset   int64             `json:"endOffset"`
	ChunkSize   int64             `json:"chunkSize"`
	ChunkOffset int64             `json:"chunkOffset"`
	ChunkDigest string            `json:"chunkDigest"`
	ChunkType   string            `json:"chunkType"`
}

type toc struct {
	Version        int     `json:"version"`
	Entries        []entry `json:"entries"`
	TarSplitDigest string  `json:"tarSplitDigest"`
}

// fileSource serves ranges of the blob as a registry would.
type fileSource struct{ blob []byte }

func (s fileSource) GetBlobAt(chunks []chunked.ImageSourceChunk) (chan io.ReadCloser, chan error, error) {
	streams := make(chan io.ReadCloser)
	errs := make(chan error)
	go func() {
		defer close(streams)
		defer close(errs)
		for _, c := range chunks {
			if c.Offset+c.Length > uint64(len(s.blob)) {
				errs <- fmt.Errorf("range %d+%d past the blob's end", c.Offset, c.Length)
				return
			}
			streams <- io.NopCloser(bytes.NewReader(s.blob[c.Offset : c.Offset+c.Length]))
		}
	}()
	return streams, errs, nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: zstd-chunked-verify BLOB DIFF-ID ANNOTATIONS-JSON")
		os.Exit(2)
	}
	files, chunks, err := verify(os.Args[1], os.Args[2], os.Args[3])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	fmt.Printf("ok %d %d\n", files, chunks)
}

func verify(path, diffID, annotationsJSON string) (int, int, error) {
	blob, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var annotations map[string]string
	if err := json.Unmarshal([]byte(annotationsJSON), &annotations); err != nil {
		return 0, 0, fmt.Errorf("annotations: %w", err)
	}
	work, err := os.MkdirTemp("", "zstd-chunked-verify-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(work)
	// The differ reads enable_partial_images from the storage configuration.
	conf := filepath.Join(work, "storage.conf")
	root, run := filepath.Join(work, "root"), filepath.Join(work, "run")
	text := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n[storage.options]\npull_options = {enable_partial_images = \"true\"}\n", root, run)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return 0, 0, err
	}
	os.Setenv("CONTAINERS_STORAGE_CONF", conf)
	store, err := storage.GetStore(types.StoreOptions{
		GraphRoot:       root,
		RunRoot:         run,
		GraphDriverName: "vfs",
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: %w", err)
	}
	defer store.Shutdown(true)

	differ, err := chunked.GetDiffer(context.Background(), store, int64(len(blob)), annotations, fileSource{blob})
	if err != nil {
		return 0, 0, fmt.Errorf("GetDiffer: %w", err)
	}
	dest := filepath.Join(work, "dest")
	if err := os.Mkdir(dest, 0o755); err != nil {
		return 0, 0, err
	}
	out, err := differ.ApplyDiff(dest, &archive.TarOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("ApplyDiff: %w", err)
	}
	var t toc
	if err := json.Unmarshal(out.BigData[manifestBlobs], &t); err != nil {
		return 0, 0, fmt.Errorf("TOC: %w", err)
	}
	if t.Version != 1 {
		return 0, 0, fmt.Errorf("TOC version %d", t.Version)
	}
	if err := checkFooter(blob, annotations); err != nil {
		return 0, 0, err
	}
	files, chunks, err := checkChunks(blob, dest, t.Entries)
	if err != nil {
		return 0, 0, err
	}
	if err := checkTarSplit(blob, dest, work, diffID, annotations, &t); err != nil {
		return 0, 0, err
	}
	return files, chunks, nil
}

func position(annotations map[string]string, key string, n int) ([]uint64, error) {
	v := make([]uint64, 4)
	format := "%d:%d:%d:%d"
	if n == 3 {
		format = "%d:%d:%d"
	}
	got, err := fmt.Sscanf(annotations[key], format, &v[0], &v[1], &v[2], &v[3])
	if n == 3 {
		got, err = fmt.Sscanf(annotations[key], format, &v[0], &v[1], &v[2])
	}
	if err != nil || got != n {
		return nil, fmt.Errorf("annotation %s=%q: %v", key, annotations[key], err)
	}
	return v[:n], nil
}

func checkFooter(blob []byte, annotations map[string]string) error {
	if len(blob) < footerSize+8 {
		return fmt.Errorf("blob too small")
	}
	frame := blob[len(blob)-footerSize-8:]
	if !bytes.Equal(frame[:4], []byte{0x50, 0x2a, 0x4d, 0x18}) || binary.LittleEndian.Uint32(frame[4:8]) != footerSize {
		return fmt.Errorf("the footer is not a skippable frame of %d bytes", footerSize)
	}
	f := frame[8:]
	if !bytes.Equal(f[56:64], footerMagic) {
		return fmt.Errorf("footer magic %q", f[56:64])
	}
	m, err := position(annotations, positionKey, 4)
	if err != nil {
		return err
	}
	s, err := position(annotations, tarSplitKey, 3)
	if err != nil {
		return err
	}
	want := []uint64{m[0], m[1], m[2], m[3], s[0], s[1], s[2]}
	for i, w := range want {
		if got := binary.LittleEndian.Uint64(f[8*i:]); got != w {
			return fmt.Errorf("footer field %d is %d, the annotations say %d", i, got, w)
		}
	}
	return nil
}

// checkChunks decodes each chunk's frames on their own and checks them
// against chunkDigest, the file's digest and the file ApplyDiff wrote.
func checkChunks(blob []byte, dest string, entries []entry) (files, chunks int, err error) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return 0, 0, err
	}
	defer dec.Close()
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if e.Type == "chunk" {
			return 0, 0, fmt.Errorf("%s: a chunk entry without its file", e.Name)
		}
		if e.Type != "reg" || e.Size == 0 {
			continue
		}
		files++
		parts := []entry{e}
		for i+1 < len(entries) && entries[i+1].Type == "chunk" {
			i++
			parts = append(parts, entries[i])
		}
		content, err := os.ReadFile(filepath.Join(dest, e.Name))
		if err != nil {
			return 0, 0, err
		}
		if int64(len(content)) != e.Size || digest.FromBytes(content).String() != e.Digest {
			return 0, 0, fmt.Errorf("%s: the file written is not the TOC's", e.Name)
		}
		for j, c := range parts {
			end := e.EndOffset
			if j+1 < len(parts) {
				end = parts[j+1].Offset
			}
			size := e.Size - c.ChunkOffset
			if len(parts) > 1 {
				if c.ChunkSize <= 0 || c.ChunkDigest == "" {
					return 0, 0, fmt.Errorf("%s: chunk %d has no size or digest", e.Name, j)
				}
				size = c.ChunkSize
			}
			if c.Offset <= 0 || end <= c.Offset || end > int64(len(blob)) {
				return 0, 0, fmt.Errorf("%s: chunk %d at %d..%d", e.Name, j, c.Offset, end)
			}
			data, err := dec.DecodeAll(blob[c.Offset:end], nil)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: chunk %d: %w", e.Name, j, err)
			}
			if int64(len(data)) != size {
				return 0, 0, fmt.Errorf("%s: chunk %d holds %d bytes, not %d", e.Name, j, len(data), size)
			}
			want := e.Digest
			if len(parts) > 1 {
				want = c.ChunkDigest
			}
			if digest.FromBytes(data).String() != want {
				return 0, 0, fmt.Errorf("%s: chunk %d does not match its digest", e.Name, j)
			}
			if !bytes.Equal(data, content[c.ChunkOffset:c.ChunkOffset+size]) {
				return 0, 0, fmt.Errorf("%s: chunk %d is not the file's bytes at %d", e.Name, j, c.ChunkOffset)
			}
			chunks++
		}
	}
	return files, chunks, nil
}

func checkTarSplit(blob []byte, dest, work, diffID string, annotations map[string]string, t *toc) error {
	if t.TarSplitDigest == "" {
		return fmt.Errorf("the TOC has no tarSplitDigest")
	}
	s, err := position(annotations, tarSplitKey, 3)
	if err != nil {
		return err
	}
	if s[0]+s[1] > uint64(len(blob)) {
		return fmt.Errorf("tar-split at %d+%d past the end", s[0], s[1])
	}
	compressed := blob[s[0] : s[0]+s[1]]
	if digest.FromBytes(compressed).String() != t.TarSplitDigest {
		return fmt.Errorf("the tar-split frame is not the TOC's tarSplitDigest")
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return err
	}
	defer dec.Close()
	split, err := dec.DecodeAll(compressed, nil)
	if err != nil {
		return fmt.Errorf("tar-split: %w", err)
	}
	if uint64(len(split)) != s[2] {
		return fmt.Errorf("tar-split is %d bytes, the annotation says %d", len(split), s[2])
	}
	var tarBuf bytes.Buffer
	up := tsstorage.NewJSONUnpacker(bytes.NewReader(split))
	if err := asm.WriteOutputTarStream(tsstorage.NewPathFileGetter(dest), up, &tarBuf); err != nil {
		return fmt.Errorf("reassembling the tar: %w", err)
	}
	if got := digest.FromBytes(tarBuf.Bytes()).String(); got != diffID {
		return fmt.Errorf("tar-split reassembles %s, the diffID is %s", got, diffID)
	}
	// The headers match the TOC, as containers/storage's
	// ensureTOCMatchesTarSplit requires.
	byName := map[string]entry{}
	for _, e := range t.Entries {
		if e.Type == "chunk" {
			continue
		}
		if _, dup := byName[e.Name]; dup {
			return fmt.Errorf("the TOC names %q twice", e.Name)
		}
		byName[e.Name] = e
	}
	tr := tar.NewReader(&tarBuf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		e, ok := byName[h.Name]
		if !ok {
			return fmt.Errorf("%q is in the tar but not in the TOC", h.Name)
		}
		delete(byName, h.Name)
		if err := sameMetadata(h, e); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	for name := range byName {
		return fmt.Errorf("%q is in the TOC but not in the tar", name)
	}
	return nil
}

var tarTypes = map[byte]string{
	tar.TypeReg: "reg", tar.TypeLink: "hardlink", tar.TypeChar: "char", tar.TypeBlock: "block",
	tar.TypeDir: "dir", tar.TypeFifo: "fifo", tar.TypeSymlink: "symlink",
}

func sameMetadata(h *tar.Header, e entry) error {
	xattrs := map[string]string{}
	for k, v := range h.PAXRecords {
		if name, ok := cutPrefix(k, "SCHILY.xattr."); ok {
			xattrs[name] = base64.StdEncoding.EncodeToString([]byte(v))
		}
	}
	if len(e.Xattrs) == 0 {
		e.Xattrs = map[string]string{}
	}
	checks := []struct {
		what      string
		tar, toc2 interface{}
	}{
		{"type", tarTypes[h.Typeflag], e.Type},
		{"linkName", h.Linkname, e.Linkname},
		{"mode", h.Mode, e.Mode},
		{"size", h.Size, e.Size},
		{"uid", h.Uid, e.UID},
		{"gid", h.Gid, e.GID},
		{"devMajor", h.Devmajor, e.Devmajor},
		{"devMinor", h.Devminor, e.Devminor},
		{"xattrs", xattrs, e.Xattrs},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.tar, c.toc2) {
			return fmt.Errorf("%s: tar %v, TOC %v", c.what, c.tar, c.toc2)
		}
	}
	for _, t := range []struct {
		what string
		tar  time.Time
		toc  *time.Time
	}{{"modtime", h.ModTime, e.ModTime}, {"accesstime", h.AccessTime, e.AccessTime}, {"changetime", h.ChangeTime, e.ChangeTime}} {
		// A time of 0 and no time are the same (as containers/storage treats them).
		tarZero := t.tar.IsZero() || t.tar.Equal(time.Unix(0, 0))
		tocZero := t.toc == nil || t.toc.IsZero() || t.toc.Equal(time.Unix(0, 0))
		if tarZero != tocZero || (!tarZero && !t.tar.Equal(*t.toc)) {
			return fmt.Errorf("%s: tar %v, TOC %v", t.what, t.tar, t.toc)
		}
	}
	return nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}
