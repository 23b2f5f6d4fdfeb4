// Command estargz-verify checks eStargz blobs with stargz-snapshotter's
// own reader (the Debian package golang-github-containerd-stargz-snapshotter-dev):
// the footer and TOC parse, the TOC digest is the one given, and every
// regular file's chunks read back with their chunkDigest and digest, as
// the snapshotter verifies them when it fetches them lazily.
//
// Usage: estargz-verify BLOB TOC-DIGEST [BLOB TOC-DIGEST]...
// Prints one line per blob: "ok FILES CHUNKS".
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/containerd/stargz-snapshotter/estargz"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 || len(args)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: estargz-verify BLOB TOC-DIGEST...")
		os.Exit(2)
	}
	for i := 0; i < len(args); i += 2 {
		files, chunks, err := verify(args[i], digest.Digest(args[i+1]))
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", args[i], err)
			os.Exit(1)
		}
		fmt.Printf("ok %d %d\n", files, chunks)
	}
}

func verify(path string, tocDigest digest.Digest) (files, chunks int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	r, err := estargz.Open(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return 0, 0, fmt.Errorf("open: %w", err)
	}
	v, err := r.VerifyTOC(tocDigest)
	if err != nil {
		return 0, 0, fmt.Errorf("TOC: %w", err)
	}
	root, ok := r.Lookup("")
	if !ok {
		return 0, 0, fmt.Errorf("no root directory")
	}
	var walk func(dir string, e *estargz.TOCEntry) error
	walk = func(dir string, e *estargz.TOCEntry) error {
		var werr error
		e.ForeachChild(func(base string, ent *estargz.TOCEntry) bool {
			name := base
			if dir != "" {
				name = dir + "/" + base
			}
			switch ent.Type {
			case "dir":
				werr = walk(name, ent)
			case "reg":
				files++
				var n int
				n, werr = verifyFile(r, v, name, ent)
				chunks += n
			}
			return werr == nil
		})
		return werr
	}
	if err := walk("", root); err != nil {
		return 0, 0, err
	}
	return files, chunks, nil
}

// verifyFile reads each chunk of a file through the reader and checks it
// with the verifier of its offset, then the whole file's digest.
func verifyFile(r *estargz.Reader, v estargz.TOCEntryVerifier, name string, ent *estargz.TOCEntry) (int, error) {
	sr, err := r.OpenFile(name)
	if err != nil {
		return 0, err
	}
	whole := digest.Canonical.Digester()
	n := 0
	for off := int64(0); off < ent.Size; {
		ce, ok := r.ChunkEntryForOffset(name, off)
		if !ok {
			return n, fmt.Errorf("%s: no chunk at %d", name, off)
		}
		size := ce.ChunkSize
		if size == 0 || ce.ChunkOffset+size > ent.Size {
			size = ent.Size - ce.ChunkOffset
		}
		buf := make([]byte, size)
		if _, err := sr.ReadAt(buf, ce.ChunkOffset); err != nil && err != io.EOF {
			return n, fmt.Errorf("%s: reading chunk at %d: %w", name, ce.ChunkOffset, err)
		}
		cv, err := v.Verifier(ce)
		if err != nil {
			return n, fmt.Errorf("%s: %w", name, err)
		}
		cv.Write(buf)
		if !cv.Verified() {
			return n, fmt.Errorf("%s: chunk at %d does not match its chunkDigest", name, ce.ChunkOffset)
		}
		whole.Hash().Write(buf)
		off = ce.ChunkOffset + size
		n++
	}
	if ent.Digest != "" && whole.Digest().String() != ent.Digest {
		return n, fmt.Errorf("%s: content is %s, the TOC says %s", name, whole.Digest(), ent.Digest)
	}
	return n, nil
}
