package jail

import (
	"encoding/binary"
	"fmt"
)

// EncodeParams returns the jail_set(2) iovec contents of params: for each
// parameter its NUL-terminated name (KernelName) followed by its value —
// a NUL-terminated string, a native-endian 4-byte int or 8-byte unsigned long, nil for a boolean,
// or the packed in_addr / in6_addr array (network byte order) of ip4.addr
// and ip6.addr. The FreeBSD layer appends "errmsg" and its buffer.
func EncodeParams(params []Param) ([][]byte, error) {
	iov := make([][]byte, 0, 2*len(params))
	for _, p := range params {
		if p.Name == "" {
			return nil, fmt.Errorf("jail parameter with an empty name")
		}
		iov = append(iov, cstring(p.KernelName()))
		switch p.Type {
		case ParamString:
			iov = append(iov, cstring(p.Str))
		case ParamInt:
			b := make([]byte, 4)
			binary.NativeEndian.PutUint32(b, uint32(p.Int))
			iov = append(iov, b)
		case ParamULong:
			b := make([]byte, 8)
			binary.NativeEndian.PutUint64(b, p.ULong)
			iov = append(iov, b)
		case ParamBool:
			iov = append(iov, nil)
		case ParamIP4, ParamIP6:
			size := 4
			if p.Type == ParamIP6 {
				size = 16
			}
			b := make([]byte, 0, size*len(p.Addrs))
			for _, a := range p.Addrs {
				if a.BitLen() != size*8 {
					return nil, fmt.Errorf("jail parameter %s: %s is not an IPv%d address", p.Name, a, map[int]int{4: 4, 16: 6}[size])
				}
				b = append(b, a.AsSlice()...)
			}
			iov = append(iov, b)
		default:
			return nil, fmt.Errorf("jail parameter %s: unknown type %d", p.Name, p.Type)
		}
	}
	return iov, nil
}

func cstring(s string) []byte { return append([]byte(s), 0) }
