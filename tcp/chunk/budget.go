package chunk

import "sync/atomic"

// Budget is the memory bound shared by a server's pools; see the package
// doc. A nil *Budget is unlimited.
type Budget struct {
	low, pressure, high int64
	used                atomic.Int64 // octets reserved by pools
	underPressure       atomic.Bool
	peak                atomic.Int64

	pressureEntered atomic.Uint64
	refused         atomic.Uint64 // reservations refused at High
	forced          atomic.Uint64 // reservations forced past High (must)
}

// NewBudget returns a budget of high octets, with Linux's tcp_mem
// proportions for the other levels (3:4:6): pressure at two thirds of
// high, relief below half of it. high <= 0 means unlimited (nil).
func NewBudget(high int64) *Budget {
	if high <= 0 {
		return nil
	}
	return NewBudgetLevels(high/2, high*2/3, high)
}

// NewBudgetLevels returns a budget with explicit levels (low <= pressure
// <= high, in octets).
func NewBudgetLevels(low, pressure, high int64) *Budget {
	pressure = min(max(pressure, low), high)
	low = min(low, pressure)
	return &Budget{low: low, pressure: pressure, high: high}
}

// reserve takes n octets; false when that would pass High and must is
// unset. must reserves past High (counted in Forced).
func (b *Budget) reserve(n int64, must bool) bool {
	if b == nil {
		return true
	}
	u := b.used.Add(n)
	if u > b.high {
		if !must {
			b.used.Add(-n)
			b.refused.Add(1)
			return false
		}
		b.forced.Add(1)
	}
	if u >= b.pressure && !b.underPressure.Load() && b.underPressure.CompareAndSwap(false, true) {
		b.pressureEntered.Add(1)
	}
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return true
}

func (b *Budget) release(n int64) {
	if b == nil {
		return
	}
	if u := b.used.Add(-n); u < b.low && b.underPressure.Load() {
		b.underPressure.Store(false)
	}
}

// UnderPressure reports that usage passed the Pressure level and has not
// fallen below Low since (tcp_memory_pressure).
func (b *Budget) UnderPressure() bool { return b != nil && b.underPressure.Load() }

// Free is the octets left below High (0 at or past it); a nil budget has
// no bound and reports -1.
func (b *Budget) Free() int64 {
	if b == nil {
		return -1
	}
	return max(0, b.high-b.used.Load())
}

// BudgetStats are a budget's levels and counters.
type BudgetStats struct {
	Low, Pressure, High int64  // the levels, in octets
	Used, Peak          int64  // octets reserved by the pools now, and at most
	UnderPressure       bool   // in the pressure state now
	PressureEntered     uint64 // times the pressure state was entered
	Refused             uint64 // batch reservations refused at High
	Forced              uint64 // reservations forced past High (a queue's first chunk, accepted text)
}

// Stats returns the levels and counters (zero for a nil budget).
func (b *Budget) Stats() BudgetStats {
	if b == nil {
		return BudgetStats{}
	}
	return BudgetStats{
		Low: b.low, Pressure: b.pressure, High: b.high,
		Used: b.used.Load(), Peak: b.peak.Load(),
		UnderPressure:   b.underPressure.Load(),
		PressureEntered: b.pressureEntered.Load(),
		Refused:         b.refused.Load(),
		Forced:          b.forced.Load(),
	}
}
