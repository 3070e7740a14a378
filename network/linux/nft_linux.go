//go:build linux

package linux

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// table is stockade's nftables table.
var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// baseChain is the nftables definition of a planned chain.
func baseChain(c Chain) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	ch := &nftables.Chain{Name: string(c), Table: table, Policy: &accept}
	switch c {
	case Forward:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter
	case Prerouting:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest
	case Output:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest
	case Postrouting:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource
	}
	return ch
}

// bridgesSet is the set of stockade's bridge names.
func bridgesSet() *nftables.Set {
	return &nftables.Set{Table: table, Name: BridgesSet, KeyType: nftables.TypeIFName}
}

// ifnameBytes is an interface name as the kernel compares it: padded
// with NULs to IFNAMSIZ.
func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// comment is a rule's userdata holding owner as its comment.
func comment(owner string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, owner)
}

// ruleOwner reads a rule's comment.
func ruleOwner(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// compile turns a planned rule into nftables expressions.
func compile(r Rule) ([]expr.Any, error) {
	var e []expr.Any
	cmp := func(op expr.CmpOp, data []byte) {
		e = append(e, &expr.Cmp{Op: op, Register: 1, Data: data})
	}
	eq := func(not bool) expr.CmpOp {
		if not {
			return expr.CmpOpNeq
		}
		return expr.CmpOpEq
	}
	addrLen, saddrOff, daddrOff := uint32(4), uint32(12), uint32(16)
	natFamily := uint32(unix.NFPROTO_IPV4)
	switch r.Family {
	case IPv4:
		e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
		cmp(expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})
	case IPv6:
		e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1})
		cmp(expr.CmpOpEq, []byte{unix.NFPROTO_IPV6})
		addrLen, saddrOff, daddrOff = 16, 8, 24
		natFamily = unix.NFPROTO_IPV6
	}
	if (r.Src.IsValid() || r.Dst.IsValid() || r.Verdict == DNAT) && r.Family == Any {
		return nil, fmt.Errorf("rule %s: addresses need a family", r)
	}
	if r.IIF != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1})
		cmp(eq(r.NotIIF), ifnameBytes(r.IIF))
	}
	if r.OIFBridge {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: BridgesSet},
		)
	}
	if r.OIF != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1})
		cmp(eq(r.NotOIF), ifnameBytes(r.OIF))
	}
	prefix := func(off uint32, p interface {
		Bits() int
	}, addr []byte, op expr.CmpOp) {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: addrLen})
		bits := p.Bits()
		if bits < int(addrLen*8) {
			mask := make([]byte, addrLen)
			for i := range bits {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: addrLen, Mask: mask, Xor: make([]byte, addrLen)})
		}
		cmp(op, addr)
	}
	if r.Src.IsValid() {
		prefix(saddrOff, r.Src, r.Src.Masked().Addr().AsSlice(), expr.CmpOpEq)
	}
	if r.Dst.IsValid() {
		prefix(daddrOff, r.Dst, r.Dst.Masked().Addr().AsSlice(), eq(r.NotDst))
	}
	if r.DstLocal {
		e = append(e, &expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true})
		cmp(expr.CmpOpEq, binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL))
	}
	if r.CtDNAT {
		e = append(e,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(0x20), // IPS_DST_NAT
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
		)
		cmp(expr.CmpOpNeq, binaryutil.NativeEndian.PutUint32(0))
	}
	if r.Proto != "" {
		var proto byte
		switch r.Proto {
		case "tcp":
			proto = unix.IPPROTO_TCP
		case "udp":
			proto = unix.IPPROTO_UDP
		default:
			return nil, fmt.Errorf("rule %s: protocol %q", r, r.Proto)
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		cmp(expr.CmpOpEq, []byte{proto})
	}
	if r.DPort != 0 {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		cmp(expr.CmpOpEq, binary.BigEndian.AppendUint16(nil, r.DPort))
	}
	switch r.Verdict {
	case Accept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case Masquerade:
		e = append(e, &expr.Masq{})
	case DNAT:
		to := r.To.Addr()
		if (r.Family == IPv4) != to.Is4() {
			return nil, fmt.Errorf("rule %s: target's family differs from the rule's", r)
		}
		e = append(e,
			&expr.Immediate{Register: 1, Data: to.AsSlice()},
			&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, r.To.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: natFamily, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
	default:
		return nil, fmt.Errorf("rule %s: unknown verdict %d", r, r.Verdict)
	}
	return e, nil
}

// nft applies plans to the kernel's nftables over one netlink
// connection; changes are sent in one batch by flush. It is used for one
// operation, under the driver's lock: the chains' rules it listed stay
// valid until its next flush.
type nft struct {
	c     *nftables.Conn
	cache map[Chain][]*nftables.Rule
}

func newNFT(opts ...nftables.ConnOption) (*nft, error) {
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return &nft{c: c, cache: map[Chain][]*nftables.Rule{}}, nil
}

// ensureTable creates stockade's table, its chains, its set and its
// static rules when they are missing.
//
// A table that has them all is left as it is: the batch that adds them
// again cost 11-15 ms in the kernel (Linux 6.18 in the CI's VM) against
// ~0.3 ms for the look (BenchmarkEnsureNetwork: 16.6 -> 1.9 ms), and
// every networked start ensures its network.
func (t *nft) ensureTable() error {
	if t.tableComplete() {
		return t.ensureRules(StaticOwner, StaticRules())
	}
	t.c.AddTable(table)
	for _, c := range Chains {
		t.c.AddChain(baseChain(c))
	}
	if err := t.c.AddSet(bridgesSet(), nil); err != nil {
		return fmt.Errorf("nftables set %s: %w", BridgesSet, err)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return t.ensureRules(StaticOwner, StaticRules())
}

// tableComplete reports whether stockade's table has each of its base
// chains as baseChain defines it and its set of bridges. A listing that
// fails says no: the batch that adds them then reports the kernel's
// error.
func (t *nft) tableComplete() bool {
	chains, err := t.c.ListChainsOfTableFamily(table.Family)
	if err != nil || !hasBaseChains(chains) {
		return false
	}
	set, err := t.c.GetSetByName(table, BridgesSet)
	return err == nil && set.KeyType.GetNFTMagic() == nftables.TypeIFName.GetNFTMagic()
}

// hasBaseChains reports whether chains (of any tables) hold every chain of
// Chains in stockade's table with the type, hook, priority and policy of
// baseChain.
func hasBaseChains(chains []*nftables.Chain) bool {
	for _, c := range Chains {
		want, found := baseChain(c), false
		for _, got := range chains {
			if got.Table == nil || got.Table.Name != table.Name || got.Table.Family != table.Family || got.Name != want.Name {
				continue
			}
			found = got.Type == want.Type && samePtr(got.Hooknum, want.Hooknum) &&
				samePtr(got.Priority, want.Priority) && samePtr(got.Policy, want.Policy)
			break
		}
		if !found {
			return false
		}
	}
	return true
}

// samePtr reports whether a and b are both set and equal (a chain's hook,
// priority or policy).
func samePtr[T comparable](a, b *T) bool {
	return a != nil && b != nil && *a == *b
}

// rules lists the rules of chain c (none if the table is missing).
func (t *nft) rules(c Chain) ([]*nftables.Rule, error) {
	if rs, ok := t.cache[c]; ok {
		return rs, nil
	}
	rs, err := t.c.GetRules(table, baseChain(c))
	if err != nil && !isNotFound(err) {
		if ok, terr := t.tableExists(); terr == nil && !ok {
			return nil, nil
		}
		return nil, fmt.Errorf("nftables: list chain %s: %w", c, err)
	}
	t.cache[c] = rs
	return rs, nil
}

// ensureRules adds owner's rules unless the chains already have as many
// rules of owner as planned; a partial set is replaced.
func (t *nft) ensureRules(owner string, plan []Rule) error {
	want := map[Chain]int{}
	for _, r := range plan {
		want[r.Chain]++
	}
	have := map[Chain]int{}
	for _, c := range Chains {
		rs, err := t.rules(c)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if ruleOwner(r) == owner {
				have[c]++
			}
		}
	}
	same := len(want) == len(have)
	for c, n := range want {
		if have[c] != n {
			same = false
		}
	}
	if same {
		return nil
	}
	if _, err := t.deleteRules(func(o string) bool { return o == owner }); err != nil {
		return err
	}
	for _, r := range plan {
		exprs, err := compile(r)
		if err != nil {
			return err
		}
		nr := &nftables.Rule{Table: table, Chain: baseChain(r.Chain), Exprs: exprs, UserData: comment(owner)}
		if r.First {
			t.c.InsertRule(nr)
		} else {
			t.c.AddRule(nr)
		}
	}
	return t.flush()
}

// deleteRules removes the rules whose comment match selects and returns
// their comments.
func (t *nft) deleteRules(match func(owner string) bool) ([]string, error) {
	var owners []string
	for _, c := range Chains {
		rs, err := t.rules(c)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if o := ruleOwner(r); match(o) {
				if err := t.c.DelRule(r); err != nil {
					return nil, fmt.Errorf("nftables: delete rule %q: %w", o, err)
				}
				owners = append(owners, string(c)+" "+o)
			}
		}
	}
	if len(owners) == 0 {
		return nil, nil
	}
	return owners, t.flush()
}

// owners lists the comments of every rule in the table, by chain.
func (t *nft) owners() (map[Chain][]string, error) {
	m := map[Chain][]string{}
	for _, c := range Chains {
		rs, err := t.rules(c)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			m[c] = append(m[c], ruleOwner(r))
		}
	}
	return m, nil
}

// setBridge adds or removes a bridge in the bridges set.
func (t *nft) setBridge(name string, present bool) error {
	el := []nftables.SetElement{{Key: ifnameBytes(name)}}
	var err error
	if present {
		err = t.c.SetAddElements(bridgesSet(), el)
	} else {
		err = t.c.SetDeleteElements(bridgesSet(), el)
	}
	if err != nil {
		return fmt.Errorf("nftables set %s: %w", BridgesSet, err)
	}
	if err := t.flush(); err != nil && (present || !isNotFound(err)) {
		if !present {
			if ok, terr := t.tableExists(); terr == nil && !ok {
				return nil // no table, no set: nothing to remove
			}
		}
		return err
	}
	return nil
}

// bridges lists the names in the bridges set.
func (t *nft) bridges() ([]string, error) {
	els, err := t.c.GetSetElements(bridgesSet())
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		// google/nftables wraps the kernel's ENOENT as text (%v), so a
		// missing table is asked about directly.
		if ok, terr := t.tableExists(); terr == nil && !ok {
			return nil, nil
		}
		return nil, fmt.Errorf("nftables set %s: %w", BridgesSet, err)
	}
	var names []string
	for _, el := range els {
		names = append(names, cString(el.Key))
	}
	return names, nil
}

// tableExists reports whether stockade's table is in the kernel: a host
// where no network was ever made has none.
func (t *nft) tableExists() (bool, error) {
	tables, err := t.c.ListTablesOfFamily(table.Family)
	if err != nil {
		return false, fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, tb := range tables {
		if tb.Name == table.Name {
			return true, nil
		}
	}
	return false, nil
}

func (t *nft) flush() error {
	clear(t.cache)
	if err := t.c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
