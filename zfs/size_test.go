package zfs

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"none", 0, true},
		{"NONE", 0, true},
		{"4096", 4096, true},
		{"10G", 10 << 30, true},
		{"10g", 10 << 30, true},
		{"10GB", 10 << 30, true},
		{"10GiB", 10 << 30, true},
		{"512M", 512 << 20, true},
		{"1K", 1024, true},
		{"1.5T", 3 << 39, true},
		{".5M", 1 << 19, true},
		{"2E", 2 << 60, true},
		{" 3M ", 3 << 20, true},
		{"100B", 100, true},
		{"16E", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"G", 0, false},
		{"-1G", 0, false},
		{"+1G", 0, false},
		{"1e9", 0, false},
		{"10X", 0, false},
		{"1..5G", 0, false},
		{".", 0, false},
		{"1 G", 0, false},
		{"inf", 0, false},
		{"NaN", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && (err == nil || !errors.Is(err, ErrInvalidSize)) {
			t.Errorf("ParseSize(%q) = %d, %v; want an ErrInvalidSize", tc.in, got, err)
		}
	}
}
