package response

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// TestAppendConnVariants: every variant of the 200s parses with net/http,
// says what it should about the connection, and its Date is where
// AppendConn says.
func TestAppendConnVariants(t *testing.T) {
	date := time.Date(2028, 2, 29, 23, 59, 59, 0, time.UTC)
	for _, o := range []Outcome{OKGet, OKHead, BadRequest} {
		for c := Close; c < Conns; c++ {
			raw, at := AppendConn(nil, o, "Hello, World!\n", date, c)
			method := http.MethodGet
			if o == OKHead {
				method = http.MethodHead
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
			if err != nil {
				t.Fatalf("%v %v: ReadResponse: %v\n%q", o, c, err, raw)
			}
			resp.Body.Close()
			if want := c == Close; resp.Close != want {
				t.Errorf("%v %v: want Close %v, got %v", o, c, want, resp.Close)
			}
			// net/http drops a "close" from the Header it returns: the raw
			// bytes, then.
			wantConn := map[Conn]string{Close: "\r\nConnection: close\r\n", KeepAlive10: "\r\nConnection: keep-alive\r\n"}[c]
			if got := bytes.Count(raw, []byte("Connection:")); got != min(len(wantConn), 1) || !bytes.Contains(raw, []byte(wantConn)) {
				t.Errorf("%v %v: want the Connection header %q, got %q", o, c, wantConn, raw)
			}
			if at < 0 || at+DateLen > len(raw) || string(raw[at:at+DateLen]) != "Tue, 29 Feb 2028 23:59:59 GMT" {
				t.Errorf("%v %v: want the Date at %d, got %q", o, c, at, raw)
			}
		}
	}
	if b, at := AppendConn([]byte("x"), ClientGone, "m", date, KeepAlive); string(b) != "x" || at != -1 {
		t.Errorf("ClientGone: want nothing appended and -1, got %q and %d", b, at)
	}
}

// TestPutDateMatchesTimeFormat: PutDate against time's formatting over
// the days around leap years and centuries and many random instants.
func TestPutDateMatchesTimeFormat(t *testing.T) {
	instants := []int64{0, 1, 86399, 86400, 951782400, 951868800, 4107542400, 4107628800, 253402300799}
	for _, d := range []string{"1972-02-28", "1972-02-29", "1972-03-01", "2000-02-29", "2000-03-01",
		"2100-02-28", "2100-03-01", "2400-02-29", "2026-12-31", "2027-01-01", "1999-12-31"} {
		tm, err := time.Parse(time.DateOnly, d)
		if err != nil {
			t.Fatal(err)
		}
		instants = append(instants, tm.Unix(), tm.Unix()+86399)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		instants = append(instants, r.Int64N(253402300800))
	}
	for day := int64(0); day < 1000*366; day += 7 { // every week of 1970 to 2970
		instants = append(instants, day*86400+day%86400)
	}
	b := make([]byte, DateLen+2)
	for _, sec := range instants {
		b[DateLen] = '!'
		PutDate(b, sec)
		want := time.Unix(sec, 0).UTC().Format(http.TimeFormat)
		if string(b[:DateLen]) != want || b[DateLen] != '!' {
			t.Fatalf("%d: want %q, got %q", sec, want, b)
		}
	}
}

func TestPutDateLeavesOutOfRangeAlone(t *testing.T) {
	for _, c := range []struct {
		n   int
		sec int64
	}{{DateLen - 1, 0}, {DateLen, -1}, {DateLen, 253402300800}} {
		b := bytes.Repeat([]byte{'x'}, c.n)
		PutDate(b, c.sec)
		if string(b) != string(bytes.Repeat([]byte{'x'}, c.n)) {
			t.Errorf("len %d, %d: want b unchanged, got %q", c.n, c.sec, b)
		}
	}
}
