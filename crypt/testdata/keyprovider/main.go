// Command keyprovider is a key provider for the tests of package crypt.
// It speaks ocicrypt's keyprovider command protocol: one JSON request on
// stdin ({"op":"keywrap"|"keyunwrap", ...}), one JSON answer on stdout.
// It wraps the layer options with AES-256-GCM under the 32-byte key in the
// file given by -key; unwrapping with another key fails (exit status 1).
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

type request struct {
	Op            string `json:"op"`
	KeyWrapParams struct {
		OptsData []byte `json:"optsdata"`
	} `json:"keywrapparams"`
	KeyUnwrapParams struct {
		Annotation []byte `json:"annotation"`
	} `json:"keyunwrapparams"`
}

type wrapped struct {
	KeyID string `json:"kid"`
	Nonce []byte `json:"nonce"`
	CT    []byte `json:"ct"`
}

func main() {
	keyFile := flag.String("key", "", "file holding the 32-byte wrapping key")
	logFile := flag.String("log", "", "file to append one line per request to")
	flag.Parse()
	if err := run(*keyFile, *logFile); err != nil {
		fmt.Fprintln(os.Stderr, "keyprovider:", err)
		os.Exit(1)
	}
}

func run(keyFile, logFile string) error {
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	if len(key) != 32 {
		return errors.New("the key must be 32 bytes")
	}
	sum := sha256.Sum256(key)
	kid := hex.EncodeToString(sum[:4])
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var req request
	if err := json.Unmarshal(in, &req); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	if logFile != "" {
		if f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintln(f, req.Op, kid)
			f.Close()
		}
	}
	var out any
	switch req.Op {
	case "keywrap":
		nonce := make([]byte, gcm.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		ann, err := json.Marshal(wrapped{KeyID: kid, Nonce: nonce, CT: gcm.Seal(nil, nonce, req.KeyWrapParams.OptsData, []byte(kid))})
		if err != nil {
			return err
		}
		out = map[string]any{"keywrapresults": map[string]any{"annotation": ann}}
	case "keyunwrap":
		var w wrapped
		if err := json.Unmarshal(req.KeyUnwrapParams.Annotation, &w); err != nil {
			return fmt.Errorf("bad annotation: %w", err)
		}
		if w.KeyID != kid {
			return fmt.Errorf("wrapped for key %s, not %s", w.KeyID, kid)
		}
		opts, err := gcm.Open(nil, w.Nonce, w.CT, []byte(kid))
		if err != nil {
			return errors.New("cannot unwrap: authentication failed")
		}
		out = map[string]any{"keyunwrapresults": map[string]any{"optsdata": opts}}
	default:
		return fmt.Errorf("unknown op %q", req.Op)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
