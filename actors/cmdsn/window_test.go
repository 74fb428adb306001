package cmdsn

import (
	"testing"

	pb "github.com/atgt/atgt/messages/atgtv1"
)

func order(sn uint32, imm bool) *pb.CommandOrder {
	return &pb.CommandOrder{CmdSn: sn, Immediate: imm, Itt: sn, MaxCmdSn: sn + 100}
}

func sns(os []*pb.CommandOrder) []uint32 {
	var r []uint32
	for _, o := range os {
		r = append(r, o.CmdSn)
	}
	return r
}

func TestWindowOrders(t *testing.T) {
	tests := []struct {
		name   string
		first  uint32
		in     []*pb.CommandOrder
		want   [][]uint32
		wantOK []bool
		exp    uint32
	}{
		{"in order", 10, []*pb.CommandOrder{order(10, false), order(11, false)}, [][]uint32{{10}, {11}}, []bool{true, true}, 12},
		{"gap filled", 10, []*pb.CommandOrder{order(12, false), order(11, false), order(10, false)}, [][]uint32{nil, nil, {10, 11, 12}}, []bool{true, true, true}, 13},
		{"immediate bypasses", 10, []*pb.CommandOrder{order(10, true)}, [][]uint32{{10}}, []bool{true}, 10},
		{"old dropped", 10, []*pb.CommandOrder{order(9, false)}, [][]uint32{nil}, []bool{false}, 10},
		{"beyond window dropped", 10, []*pb.CommandOrder{order(10+4, false)}, [][]uint32{nil}, []bool{false}, 10},
		{"beyond the advertised MaxCmdSN dropped", 10, []*pb.CommandOrder{{CmdSn: 12, Itt: 12, MaxCmdSn: 11}}, [][]uint32{nil}, []bool{false}, 10},
		{"at the advertised MaxCmdSN accepted", 10, []*pb.CommandOrder{{CmdSn: 10, Itt: 10, MaxCmdSn: 10}}, [][]uint32{{10}}, []bool{true}, 11},
		{"duplicate dropped", 10, []*pb.CommandOrder{order(11, false), order(11, false)}, [][]uint32{nil, nil}, []bool{true, false}, 10},
		{"wraps", 0xffffffff, []*pb.CommandOrder{order(0, false), order(0xffffffff, false)}, [][]uint32{nil, {0xffffffff, 0}}, []bool{true, true}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindow(tc.first, 4)
			for i, o := range tc.in {
				got, ok := w.Accept(o)
				if ok != tc.wantOK[i] {
					t.Fatalf("step %d: ok=%v want %v", i, ok, tc.wantOK[i])
				}
				if g, wnt := sns(got), tc.want[i]; len(g) != len(wnt) || (len(g) > 0 && !equal(g, wnt)) {
					t.Fatalf("step %d: got %v want %v", i, g, wnt)
				}
			}
			if w.Exp() != tc.exp {
				t.Fatalf("ExpCmdSN %d, want %d", w.Exp(), tc.exp)
			}
		})
	}
}

func equal(a, b []uint32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLess(t *testing.T) {
	if !Less(1, 2) || Less(2, 1) || Less(3, 3) || !Less(0xfffffff0, 5) {
		t.Fatal("serial arithmetic wrong")
	}
}

// TestWithdraw: a task withdrawn while held behind a gap is never released; its
// CmdSN still passes when the gap fills, and a task not held is not withdrawn.
func TestWithdraw(t *testing.T) {
	w := NewWindow(1, 8)
	held := order(2, false)
	held.Task = &pb.ScsiTask{Itt: 2}
	if _, ok := w.Accept(held); !ok {
		t.Fatal("order 2 not accepted")
	}
	if _, ok := w.Withdraw(2, &pb.ScsiTask{Itt: 2}); ok {
		t.Fatal("withdrew another task's order")
	}
	if o, ok := w.Withdraw(2, held.Task); !ok || o != held {
		t.Fatalf("Withdraw = %v, %v; want the held order", o, ok)
	}
	ready, _ := w.Accept(order(1, false))
	if len(ready) != 2 || ready[1].Task != nil || ready[1].Itt != PlaceholderITT || w.Exp() != 3 {
		t.Fatalf("ready %v exp %d; want 1 and a placeholder for 2, exp 3", ready, w.Exp())
	}
	if _, ok := w.Withdraw(2, held.Task); ok {
		t.Fatal("withdrew a released CmdSN")
	}
}
