//go:build cgo

package crypt

// pkcs11Supported tells whether this build can use PKCS#11 keys: ocicrypt
// reaches PKCS#11 modules through cgo.
const pkcs11Supported = true
