package main

import (
	"sync"

	"github.com/hellod/hellod/internal/scoreboard"
)

// slotAdapter is a stopgap until internal/server manages the scoreboard
// (its Starter then takes the slot, and server.Options.Board): it gives
// each child the next slot, round robin, Reset. A slot may then be shared
// by two live children, whose records mix; nothing reads them yet.
// TODO(merge ka-parent): delete this file and pass strategy and board to
// server.Options (Starter: strategy, Board: board).
type slotAdapter struct {
	st    strategy
	board *scoreboard.Board
	mu    sync.Mutex
	next  int
}

func newSlotAdapter(st strategy, board *scoreboard.Board) *slotAdapter {
	return &slotAdapter{st: st, board: board}
}

// Start starts a child on fd and the next slot.
func (a *slotAdapter) Start(fd int) (int, error) {
	a.mu.Lock()
	i := a.next % a.board.Len()
	a.next++
	a.mu.Unlock()
	a.board.Slot(i).Reset(scoreboard.Now())
	return a.st.Start(fd, i)
}

// Name is the strategy's.
func (a *slotAdapter) Name() string { return a.st.Name() }
