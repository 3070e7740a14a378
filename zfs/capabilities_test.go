package zfs

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

func TestGenericProblems(t *testing.T) {
	failed := errors.New("dataset is busy")
	in := []Problem{
		{Kind: ProblemAbandoned, Dataset: "zroot/st/active/unpack", Key: "unpack", Detail: "unchanged for 25h", Repaired: true},
		{Kind: ProblemOrphanClone, Dataset: "zroot/st/views/v", Detail: "parent gone", Err: failed},
	}
	want := []snapshot.Problem{
		{What: "dataset zroot/st/active/unpack", Issue: "abandoned: unchanged for 25h", Repaired: true},
		{What: "dataset zroot/st/views/v", Issue: "orphan-clone: parent gone", Err: failed},
	}
	if got := genericProblems(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got := genericProblems(nil); got != nil {
		t.Errorf("no problems: got %+v, want nil", got)
	}
}

func TestParseQuota(t *testing.T) {
	var z Snapshotter
	if n, err := z.ParseQuota("10G"); err != nil || n != 10<<30 {
		t.Errorf("ParseQuota(10G) = %d, %v", n, err)
	}
	if _, err := z.ParseQuota("ten"); !errors.Is(err, ErrInvalidSize) {
		t.Errorf("ParseQuota(ten): %v, want ErrInvalidSize", err)
	}
}
