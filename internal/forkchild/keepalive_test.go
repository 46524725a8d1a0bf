package forkchild

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
)

const getReq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// readResponses reads n responses to GET from br and returns whether each
// said Connection: close and their Dates.
func readResponses(t *testing.T, name string, br *bufio.Reader, n int) (closes []bool, dates []string) {
	t.Helper()
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("%s: response %d of %d: %v", name, i+1, n, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != keepAliveSettings.Message {
			t.Fatalf("%s: response %d: want 200 %q, got %d %q, %v", name, i+1, keepAliveSettings.Message, resp.StatusCode, body, err)
		}
		closes = append(closes, resp.Close)
		dates = append(dates, resp.Header.Get("Date"))
	}
	return closes, dates
}

// startKeepAlive starts a child of st on a new connection and sends it a
// GET: the client, its reader, the child's exit code to come and its slot.
func startKeepAlive(t *testing.T, h *harness, st strategy) (*net.TCPConn, *bufio.Reader, <-chan int, *scoreboard.Slot) {
	t.Helper()
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	_, code := h.start(st, fd)
	client.SetDeadline(time.Now().Add(20 * time.Second))
	client.Write([]byte(getReq))
	return client, bufio.NewReader(client), code, st.Last()
}

// TestStrategiesKeepAlive: a child of either strategy answers requests one
// by one and pipelined on one connection, keeps its Dates current across
// seconds, closes when asked, exits with the last outcome and counts it
// all in its scoreboard slot.
func TestStrategiesKeepAlive(t *testing.T) {
	h := newHarness(t)
	for _, st := range strategies(t, keepAliveSettings) {
		client, br, code, slot := startKeepAlive(t, h, st)
		_, first := readResponses(t, st.Name(), br, 1)
		// The next wall-clock second, then another request on the same
		// connection: its Date is the new second's.
		sec := time.Now().Unix()
		for time.Now().Unix() == sec {
			time.Sleep(10 * time.Millisecond) // waiting for the clock, not synchronising
		}
		client.Write([]byte(strings.Repeat(getReq, 5)))
		client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		closes, dates := readResponses(t, st.Name(), br, 6)
		for i, c := range closes {
			if c != (i == 5) {
				t.Errorf("%s: response %d: want Close %v, got %v", st.Name(), i+2, i == 5, c)
			}
		}
		d0, err0 := http.ParseTime(first[0])
		d1, err1 := http.ParseTime(dates[0])
		if err0 != nil || err1 != nil || !d1.After(d0) || time.Since(d1).Abs() > 3*time.Second {
			t.Errorf("%s: want a later, current Date on the later response, got %q then %q", st.Name(), first[0], dates[0])
		}
		if b, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: want the end of the connection, got %q, %v", st.Name(), b, err)
		}
		client.Close()
		if c := waitCode(t, code); c != int(response.OKGet) {
			t.Errorf("%s: want exit code %d, got %d", st.Name(), response.OKGet, c)
		}
		v := slot.Read()
		if v.State != scoreboard.Done || v.Requests != 7 || v.Counts[response.OKGet] != 7 || v.Last != uint8(response.OKGet) {
			t.Errorf("%s: want the slot done after 7 200s, got %+v", st.Name(), v)
		}
	}
}

// TestStrategiesClaimIdle: a child that waits for its next request and is
// claimed by the parent exits without reading or answering it.
func TestStrategiesClaimIdle(t *testing.T) {
	h := newHarness(t)
	for _, st := range strategies(t, keepAliveSettings) {
		client, br, code, slot := startKeepAlive(t, h, st)
		readResponses(t, st.Name(), br, 1)
		for deadline := time.Now().Add(10 * time.Second); slot.Read().State != scoreboard.Idle; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: want the slot idle, got %v", st.Name(), slot.Read().State)
			}
			time.Sleep(time.Millisecond) // polling shared memory, not synchronising
		}
		if !slot.Claim() {
			t.Fatalf("%s: want Claim to take the idle child", st.Name())
		}
		client.Write([]byte(getReq))
		if c := waitCode(t, code); c != int(response.OKGet) {
			t.Errorf("%s: want exit code %d (the last response's), got %d", st.Name(), response.OKGet, c)
		}
		if b, err := br.ReadByte(); err == nil {
			t.Errorf("%s: want no answer from a claimed child, got %q", st.Name(), b)
		}
		client.Close()
		if v := slot.Read(); v.State != scoreboard.Closing || v.Requests != 1 {
			t.Errorf("%s: want the slot closing after 1 response, got %+v", st.Name(), v)
		}
	}
}
