//go:build !lean

package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the compressed formats.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectCompression looks at the first bytes of a stream.
func DetectCompression(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd
	}
	return Uncompressed
}

// Decompress returns the uncompressed stream of r and the compression it
// found. The magic bytes decide, not the media type: Docker-era tools label
// uncompressed layers tar.gzip, and a stream that is neither gzip nor zstd
// is read as a plain tar (a wrong one then fails in the tar reader or the
// diff_id check). The reader must be closed.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", err
	}
	actual := DetectCompression(head)
	switch actual {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, actual, fmt.Errorf("gzip: %w", err)
		}
		return zr, actual, nil
	case Zstd:
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdWindow))
		if err != nil {
			return nil, actual, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), actual, nil
	}
	return io.NopCloser(br), actual, nil
}

// decompressError names the algorithm in a decompression error.
func decompressError(c Compression, err error) error {
	if err == nil {
		return nil
	}
	if c == Uncompressed {
		return err
	}
	if strings.HasPrefix(err.Error(), string(c)) {
		return err
	}
	return fmt.Errorf("%s: %w", c, err)
}
