package crypt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	encconfig "github.com/containers/ocicrypt/config"
	"github.com/containers/ocicrypt/config/pkcs11config"
)

// Where a key came from, as Key.Source says.
const (
	SourceFlag         = "--key"
	SourceDecRecipient = "--dec-recipient"
	SourceKeysDir      = "decryption_keys_path"
)

// Key describes one key or certificate a Decrypter holds.
type Key struct {
	// Source is SourceFlag, SourceDecRecipient or SourceKeysDir.
	Source string
	// Path is the file it was read from; for a key provider given as
	// --key provider:NAME, it is that argument.
	Path string
	// Kind says what it is: "RSA 2048", "EC P-256", "GPG 0x...",
	// "PKCS#11", "x509 certificate CN=...", "key provider NAME".
	Kind string
}

// Decrypter holds the keys that decrypt encrypted layers. Its Decrypt
// method is an image.DecryptFunc. It is safe for concurrent use; a nil
// Decrypter has no keys.
type Decrypter struct {
	// StrictDigest makes Decrypt's stream fail with ErrDigestMismatch
	// when the plaintext is not the layer its encrypted options name. By
	// default a mismatch is only reported to Warn: containers/image
	// (skopeo, podman, buildah) writes there the digest of the layer
	// before it recompressed it, so an image it encrypted while converting
	// gzip to zstd names the gzip layer. The ciphertext's HMAC is checked
	// either way, and so is the uncompressed layer against the image
	// config's diff_id by the puller. Set it before use.
	StrictDigest bool
	// Warn receives findings that are not errors, one line each; nil
	// drops them (and, unless StrictDigest, saves hashing the plaintext:
	// the digest check reports only to Warn). Set it before use; it may
	// be called concurrently.
	Warn func(msg string)

	params  map[string][][]byte // ocicrypt's DecryptConfig parameters
	keys    []Key               // private keys, GPG keyrings, PKCS#11 files, --key provider:NAME
	certs   []Key
	skipped []string

	keysDir      string
	keysDirState string // "", "missing" or "none" (exists but holds no key)

	providers []string // configured in OCICRYPT_KEYPROVIDER_CONFIG
	flagArgs  int      // --key arguments given
	fromFlag  int
	fromDir   int
	has       map[keyKind]bool
}

// ParseKeys builds a Decrypter from the command line and the
// configuration:
//
//   - keys are --key arguments, FILE or FILE:PASSWORD (PASSWORD as ocicrypt
//     reads it: pass=TEXT, file=PATH, fd=N or the text itself), or
//     provider:NAME[:ARGS]. FILE may hold a PEM or DER private key (PKCS#1,
//     PKCS#8, SEC 1 EC, encrypted PKCS#8 or legacy encrypted PEM), a JWK,
//     a GPG secret keyring (binary or armored, gpg --export-secret-keys),
//     an ocicrypt PKCS#11 key file, or an x509 certificate (used for
//     pkcs7).
//   - decRecipients are --dec-recipient arguments; only pkcs7:CERT is
//     meaningful for decryption (PKCS7 needs the recipient's certificate
//     as well as its private key).
//   - keysDir is decryption_keys_path: every regular file under it is
//     read; keys are used, certificates too, other files are skipped (see
//     Skipped). A symbolic link under it is an error, as in ocicrypt's
//     tools, and so is a password-protected key (there is no password to
//     give it). A keysDir that does not exist is an error when
//     keysDirExplicit (the user configured it), and is no keys otherwise.
//
// The key providers of OCICRYPT_KEYPROVIDER_CONFIG are read and enabled
// too. Errors are one line naming the argument or file at fault.
func ParseKeys(keys []string, decRecipients []string, keysDir string, keysDirExplicit bool) (*Decrypter, error) {
	d := &Decrypter{params: map[string][][]byte{}, keysDir: keysDir, has: map[keyKind]bool{}}
	providers, err := keyProviders()
	if err != nil {
		return nil, err
	}
	d.providers = providers

	d.flagArgs = len(keys)
	for _, arg := range keys {
		if err := d.addKeyArg(arg); err != nil {
			return nil, err
		}
	}
	for _, arg := range decRecipients {
		if err := d.addDecRecipient(arg); err != nil {
			return nil, err
		}
	}
	if keysDir != "" {
		if err := d.walkKeysDir(keysDir, keysDirExplicit); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// addKeyArg adds one --key argument.
func (d *Decrypter) addKeyArg(arg string) error {
	if arg == "" {
		return errors.New("--key: empty argument")
	}
	if rest, ok := strings.CutPrefix(arg, "provider:"); ok {
		name, params, hasParams := strings.Cut(rest, ":")
		if !slices.Contains(d.providers, name) {
			return fmt.Errorf("--key %s: key provider %q is not configured (OCICRYPT_KEYPROVIDER_CONFIG)", arg, name)
		}
		v := []byte("Enabled")
		if hasParams {
			v = []byte(params)
		}
		d.params[name] = append(d.params[name], v)
		d.keys = append(d.keys, Key{Source: SourceFlag, Path: arg, Kind: "key provider " + name})
		d.fromFlag++
		return nil
	}
	file, pwSpec, hasPassword := splitKeyArg(arg)
	var password []byte
	if hasPassword {
		pw, err := readPassword(pwSpec)
		if err != nil {
			return fmt.Errorf("--key %s: password: %w", file, err)
		}
		password = pw
	}
	data, err := readKeyFile(file)
	if err != nil {
		return fmt.Errorf("--key %s: %w", file, unwrapPathError(err))
	}
	parsed, err := parseKeyData(data, password, hasPassword)
	if err != nil {
		return fmt.Errorf("--key %s: %w", file, err)
	}
	n, err := d.add(parsed, SourceFlag, file)
	if err != nil {
		return fmt.Errorf("--key %s: %w", file, err)
	}
	d.fromFlag += n
	return nil
}

// splitKeyArg splits FILE[:PASSWORD]. An existing file whose name holds a
// colon is taken whole.
func splitKeyArg(arg string) (file, password string, hasPassword bool) {
	if _, err := os.Lstat(arg); err == nil {
		return arg, "", false
	}
	return strings.Cut(arg, ":")
}

// readPassword reads a password the way ocicrypt's tools do: pass=TEXT,
// file=PATH (the whole file), fd=N (what can be read from it) or TEXT.
func readPassword(spec string) ([]byte, error) {
	switch {
	case strings.HasPrefix(spec, "pass="):
		return []byte(spec[len("pass="):]), nil
	case strings.HasPrefix(spec, "file="):
		b, err := readKeyFile(spec[len("file="):])
		if err != nil {
			return nil, err
		}
		return b, nil
	case strings.HasPrefix(spec, "fd="):
		fd, err := strconv.Atoi(spec[len("fd="):])
		if err != nil || fd < 0 {
			return nil, fmt.Errorf("bad file descriptor %q", spec[len("fd="):])
		}
		f := os.NewFile(uintptr(fd), "password")
		if f == nil {
			return nil, fmt.Errorf("bad file descriptor %d", fd)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("read file descriptor %d: %w", fd, err)
		}
		return b, nil
	}
	return []byte(spec), nil
}

// addDecRecipient adds one --dec-recipient argument.
func (d *Decrypter) addDecRecipient(arg string) error {
	scheme, file, ok := strings.Cut(arg, ":")
	if !ok || file == "" {
		return fmt.Errorf("--dec-recipient %s: expected pkcs7:CERT", arg)
	}
	if scheme != "pkcs7" {
		return fmt.Errorf("--dec-recipient %s: only pkcs7:CERT is used for decryption", arg)
	}
	data, err := readKeyFile(file)
	if err != nil {
		return fmt.Errorf("--dec-recipient %s: %w", arg, unwrapPathError(err))
	}
	parsed, err := parseKeyData(data, nil, false)
	if err == nil && !onlyCerts(parsed) {
		err = errors.New("not an x509 certificate")
	}
	if errors.Is(err, errNotAKey) || errors.Is(err, errPublicKey) {
		err = errors.New("not an x509 certificate")
	}
	if err != nil {
		return fmt.Errorf("--dec-recipient %s: %w", arg, err)
	}
	if _, err := d.add(parsed, SourceDecRecipient, file); err != nil {
		return fmt.Errorf("--dec-recipient %s: %w", arg, err)
	}
	return nil
}

func onlyCerts(keys []parsedKey) bool {
	for _, k := range keys {
		if k.kind != kindCert {
			return false
		}
	}
	return len(keys) > 0
}

// walkKeysDir adds every key under dir.
func (d *Decrypter) walkKeysDir(dir string, explicit bool) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		d.keysDirState = "missing"
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("decryption_keys_path %s: does not exist", dir)
	case err != nil:
		return fmt.Errorf("decryption_keys_path %s: %w", dir, unwrapPathError(err))
	case !fi.IsDir():
		return fmt.Errorf("decryption_keys_path %s: not a directory", dir)
	}
	before := d.fromDir
	err = filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("decryption_keys_path %s: %w", dir, err)
		}
		if path == dir {
			return nil
		}
		switch t := de.Type(); {
		case t&fs.ModeSymlink != 0:
			return fmt.Errorf("decryption_keys_path %s: %s is a symbolic link; symbolic links are not allowed there", dir, path)
		case de.IsDir():
			return nil
		case !t.IsRegular():
			d.skipped = append(d.skipped, path+": not a regular file")
			return nil
		}
		data, err := readKeyFile(path)
		if err != nil {
			return fmt.Errorf("decryption_keys_path %s: %w", dir, err)
		}
		parsed, err := parseKeyData(data, nil, false)
		switch {
		case errors.Is(err, errNeedPassword):
			return fmt.Errorf("decryption_keys_path %s: %s is password-protected, and keys there cannot have a password (use --key FILE:PASSWORD)", dir, path)
		case errors.Is(err, errPKCS11NoCgo):
			return fmt.Errorf("decryption_keys_path %s: %s: %w", dir, path, err)
		case err != nil:
			d.skipped = append(d.skipped, path+": "+err.Error())
			return nil
		}
		n, err := d.add(parsed, SourceKeysDir, path)
		if err != nil {
			return fmt.Errorf("decryption_keys_path %s: %s: %w", dir, path, err)
		}
		d.fromDir += n
		return nil
	})
	if err != nil {
		return err
	}
	if d.fromDir == before {
		d.keysDirState = "none"
	}
	return nil
}

// unwrapPathError drops the *fs.PathError wrapper, whose text repeats the
// path the caller already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// add puts parsed keys into the ocicrypt parameters and returns how many
// are keys (not certificates).
func (d *Decrypter) add(parsed []parsedKey, source, path string) (int, error) {
	n := 0
	for _, k := range parsed {
		switch k.kind {
		case kindPrivate:
			d.params["privkeys"] = append(d.params["privkeys"], k.data)
			d.params["privkeys-passwords"] = append(d.params["privkeys-passwords"], nil)
		case kindGPG:
			d.params["gpg-privatekeys"] = append(d.params["gpg-privatekeys"], k.data)
			d.params["gpg-privatekeys-passwords"] = append(d.params["gpg-privatekeys-passwords"], k.password)
		case kindPKCS11:
			if !pkcs11Supported {
				return n, errPKCS11NoCgo
			}
			if len(d.params["pkcs11-config"]) == 0 {
				conf, err := pkcs11config.GetUserPkcs11Config()
				if err != nil {
					return n, fmt.Errorf("PKCS#11 key needs an ocicrypt config (OCICRYPT_CONFIG, ~/.config/ocicrypt.conf): %w", err)
				}
				cc, err := encconfig.DecryptWithPkcs11Yaml(conf, nil)
				if err != nil {
					return n, fmt.Errorf("PKCS#11 config: %w", err)
				}
				d.params["pkcs11-config"] = cc.DecryptConfig.Parameters["pkcs11-config"]
			}
			d.params["pkcs11-yamls"] = append(d.params["pkcs11-yamls"], k.data)
		case kindCert:
			d.params["x509s"] = append(d.params["x509s"], k.data)
			d.certs = append(d.certs, Key{Source: source, Path: path, Kind: k.desc})
			continue
		}
		d.has[k.kind] = true
		d.keys = append(d.keys, Key{Source: source, Path: path, Kind: k.desc})
		n++
	}
	return n, nil
}

// Keys lists the keys (not the certificates) the Decrypter holds.
func (d *Decrypter) Keys() []Key {
	if d == nil {
		return nil
	}
	return slices.Clone(d.keys)
}

// Certificates lists the x509 certificates the Decrypter holds for pkcs7.
func (d *Decrypter) Certificates() []Key {
	if d == nil {
		return nil
	}
	return slices.Clone(d.certs)
}

// Skipped lists the files of the keys directory that hold no usable key,
// each as "PATH: reason", for the caller to log.
func (d *Decrypter) Skipped() []string {
	if d == nil {
		return nil
	}
	return slices.Clone(d.skipped)
}

// KeyProviders lists the key providers configured in
// OCICRYPT_KEYPROVIDER_CONFIG when the Decrypter was made; they are tried
// on layers wrapped for them.
func (d *Decrypter) KeyProviders() []string {
	if d == nil {
		return nil
	}
	return slices.Clone(d.providers)
}

// AddKeysDir adds the keys of the decryption_keys_path directory dir, as
// ParseKeys does with its keysDir argument: every regular file under it,
// recursively; symbolic links and password-protected keys are errors, and
// a dir that does not exist is an error only when explicit. It lets a
// caller check the command-line keys at once and read the directory only
// when an encrypted layer needs it. Call it before the Decrypter is used,
// at most once, and only on a Decrypter made with an empty keysDir.
func (d *Decrypter) AddKeysDir(dir string, explicit bool) error {
	if d == nil {
		return errors.New("decryption_keys_path: no Decrypter")
	}
	if d.keysDir != "" {
		return fmt.Errorf("decryption_keys_path %s: the Decrypter already read %s", dir, d.keysDir)
	}
	if dir == "" {
		return nil
	}
	d.keysDir = dir
	return d.walkKeysDir(dir, explicit)
}
