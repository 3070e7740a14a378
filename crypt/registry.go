package crypt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/containers/ocicrypt"
	encconfig "github.com/containers/ocicrypt/config"
	keyproviderconfig "github.com/containers/ocicrypt/config/keyprovider-config"
	"github.com/containers/ocicrypt/keywrap"
	"github.com/containers/ocicrypt/keywrap/keyprovider"
)

// ocicrypt keeps its key wrappers in package-level maps that its
// EncryptLayer and DecryptLayer read without a lock, and registers the key
// providers of OCICRYPT_KEYPROVIDER_CONFIG once, when the program starts.
// Stockade reads that configuration again in ParseKeys and ParseRecipients
// (so a provider configured later, or in a test, works), and registers
// under registryMu; every call into ocicrypt that reads the maps holds it
// for reading.
var (
	registryMu sync.RWMutex
	// registered maps a provider name to the JSON of the attributes it
	// was registered with by this package.
	registered = map[string]string{}
)

// wrapMu serialises ocicrypt's key wrapping: its pkcs7 wrapper sets a
// package variable of the pkcs7 library on every call.
var wrapMu sync.Mutex

// keyProviders reads OCICRYPT_KEYPROVIDER_CONFIG, registers its key
// providers with ocicrypt and returns their names, sorted. No variable
// means no providers; a variable naming a missing or bad file is an error.
func keyProviders() ([]string, error) {
	file := os.Getenv(keyproviderconfig.ENVVARNAME)
	if file == "" {
		return nil, nil
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("%s: %w", keyproviderconfig.ENVVARNAME, err)
	}
	ic, err := keyproviderconfig.GetConfiguration()
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", keyproviderconfig.ENVVARNAME, file, errors.Unwrap(err))
	}
	if ic == nil {
		return nil, nil
	}
	names := make([]string, 0, len(ic.KeyProviderConfig))
	for name, attrs := range ic.KeyProviderConfig {
		switch {
		case name == "":
			return nil, fmt.Errorf("%s=%s: a key provider has no name", keyproviderconfig.ENVVARNAME, file)
		case (attrs.Command == nil || attrs.Command.Path == "") && attrs.Grpc == "":
			return nil, fmt.Errorf("%s=%s: key provider %q has neither cmd.path nor grpc", keyproviderconfig.ENVVARNAME, file, name)
		}
		names = append(names, name)
	}
	sort.Strings(names)

	registryMu.Lock()
	defer registryMu.Unlock()
	for _, name := range names {
		attrs := ic.KeyProviderConfig[name]
		b, err := json.Marshal(attrs)
		if err != nil {
			return nil, fmt.Errorf("key provider %q: %w", name, err)
		}
		if registered[name] == string(b) {
			continue
		}
		ocicrypt.RegisterKeyWrapper("provider."+name, capturingWrapper{keyprovider.NewKeyWrapper(name, attrs)})
		registered[name] = string(b)
	}
	return names, nil
}

// The digest of the plain layer is in the layer's private options, which
// the wrapped key holds. ocicrypt's DecryptLayer is meant to return it, but
// (v1.3.2) returns "" because its AES-CTR cipher does not copy it into the
// options it returns. To check the plaintext against it, as ocicrypt
// intends, without unwrapping the key a second time (a second run of a
// key provider, a second PKCS#11 operation), stockade registers every key
// wrapper wrapped in a capturingWrapper, which hands the options it
// unwraps to the Decrypt call whose DecryptConfig it was given.

// capturingWrapper is an ocicrypt key wrapper that records what UnwrapKey
// returns in the unwrapSink of its DecryptConfig.
type capturingWrapper struct {
	keywrap.KeyWrapper
}

// UnwrapKey unwraps with the wrapped key wrapper and records the result.
func (c capturingWrapper) UnwrapKey(dc *encconfig.DecryptConfig, annotation []byte) ([]byte, error) {
	opts, err := c.KeyWrapper.UnwrapKey(dc, annotation)
	if err == nil && len(opts) > 0 {
		if v, ok := unwrapSinks.Load(dc); ok {
			v.(*unwrapSink).set(opts)
		}
	}
	return opts, err
}

// unwrapSinks maps the *DecryptConfig of a running Decrypt to its sink.
var unwrapSinks sync.Map

// unwrapSink receives the private layer options of one Decrypt call.
type unwrapSink struct {
	mu   sync.Mutex
	opts []byte
}

func (s *unwrapSink) set(opts []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts == nil {
		s.opts = opts
	}
}

func (s *unwrapSink) get() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// builtinSchemes are the key wrappers ocicrypt registers itself.
var builtinSchemes = []string{"jwe", "pgp", "pkcs11", "pkcs7"}

func init() {
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, s := range builtinSchemes {
		if kw := ocicrypt.GetKeyWrapper(s); kw != nil {
			if _, done := kw.(capturingWrapper); !done {
				ocicrypt.RegisterKeyWrapper(s, capturingWrapper{kw})
			}
		}
	}
}
