// Package crypt is everything OCI-crypt in stockade: it loads decryption
// keys, decrypts encrypted layers while they stream, encrypts layers for
// push, and tells which keys can open a layer. The cryptography is
// github.com/containers/ocicrypt's, so images are interchangeable with
// skopeo, podman, buildah, containerd's imgcrypt and nerdctl.
//
// # Decryption
//
// ParseKeys reads the keys of `--key FILE[:PASSWORD]`, the certificates of
// `--dec-recipient pkcs7:CERT`, the files of the decryption_keys_path
// directory, and the key providers of OCICRYPT_KEYPROVIDER_CONFIG. The
// resulting Decrypter's Decrypt method is an image.DecryptFunc: it
// unwraps the layer key from the descriptor's annotations and returns a
// reader of the plaintext (still compressed), decrypted as it is read. The
// ciphertext's HMAC and the plaintext's digest are checked when the stream
// ends; the reader fails then, instead of returning io.EOF, when either
// does not match. Errors are one line naming the layer, and wrap ErrNoKeys,
// ErrWrongKey, ErrCorrupt, ErrAuthentication or ErrDigestMismatch.
//
// # Encryption
//
// ParseRecipients reads `--encrypt` recipients (jwe:, pkcs7:, pgp:,
// pkcs11:, provider:); EncryptLayer streams the ciphertext of a layer and,
// once it has been read, gives the encrypted layer's descriptor.
// EncryptedMediaType and DecryptedMediaType map layer media types to their
// +encrypted forms and back.
//
// # Inspection
//
// LayerInfo tells whether a layer is encrypted and for which key-wrap
// schemes (jwe, pkcs7, pgp, pkcs11, provider.NAME).
//
// PKCS#11 needs cgo (ocicrypt loads PKCS#11 modules through it); builds
// with CGO_ENABLED=0 refuse PKCS#11 keys and recipients with a clear
// error. docs/ENCRYPTION.md describes the command line and the security
// model.
package crypt
