package response

import (
	"strconv"
	"time"
)

// Conn is what a response says about its connection (RFC 9112 section 9).
type Conn uint8

// The variants of a response.
const (
	Close       Conn = iota // "Connection: close": the server closes after it
	KeepAlive               // persistent HTTP/1.1: no Connection header
	KeepAlive10             // persistent HTTP/1.0: "Connection: keep-alive"
	Conns                   // the number of variants
)

// String names c for tests and logs.
func (c Conn) String() string {
	switch c {
	case Close:
		return "close"
	case KeepAlive:
		return "keep-alive"
	case KeepAlive10:
		return "HTTP/1.0 keep-alive"
	}
	return "conn " + strconv.Itoa(int(c))
}

// DateLen is the length of an IMF-fixdate ("Mon, 02 Jan 2006 15:04:05 GMT").
const DateLen = len(timeFormat)

// AppendConn appends the complete response for o to dst: status line,
// headers (Date, Content-Type, Content-Length, Allow for 405, and the
// Connection header of c) and, except for HEAD, the body. message is the
// body of a 200. It also returns where the Date's value (DateLen bytes)
// starts in the result, for PutDate. It returns dst unchanged and -1 for
// outcomes that send nothing.
func AppendConn(dst []byte, o Outcome, message string, date time.Time, c Conn) ([]byte, int) {
	status := o.Status()
	if status == 0 {
		return dst, -1
	}
	body := message
	if status != 200 {
		body = strconv.Itoa(status) + " " + statusText(status) + "\n"
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\nDate: "...)
	at := len(dst)
	dst = date.UTC().AppendFormat(dst, timeFormat)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	if o == MethodNotAllowed {
		dst = append(dst, "\r\nAllow: GET, HEAD"...)
	}
	switch c {
	case Close:
		dst = append(dst, "\r\nConnection: close"...)
	case KeepAlive10:
		dst = append(dst, "\r\nConnection: keep-alive"...)
	}
	dst = append(dst, "\r\n\r\n"...)
	if o != OKHead {
		dst = append(dst, body...)
	}
	return dst, at
}

// Names of the days (from Sunday) and months of an IMF-fixdate.
const (
	dayNames   = "SunMonTueWedThuFriSat"
	monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

// PutDate writes the IMF-fixdate of sec (Unix seconds, CLOCK_REALTIME) to
// b[:DateLen], as time.Unix(sec, 0).UTC().Format(http.TimeFormat) would;
// it leaves b alone when it is shorter or sec lies outside the years 1970
// to 9999. It runs in a fork child (internal/forkchild's CONTRACT): no
// allocation, no calls. The date is Howard Hinnant's civil_from_days
// (https://howardhinnant.github.io/date_algorithms.html).
//
//go:norace
//go:nocheckptr
func PutDate(b []byte, sec int64) {
	const maxSec = 253402300799 // 9999-12-31 23:59:59
	if len(b) < DateLen || sec < 0 || sec > maxSec {
		return
	}
	days, rem := uint64(sec)/86400, uint64(sec)%86400
	wd := (days + 4) % 7 // 1970-01-01 was a Thursday
	z := days + 719468   // days since 0000-03-01
	era := z / 146097
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	day := doy - (153*mp+2)/5 + 1                          // [1, 31]
	month := mp + 3                                        // [1, 12]
	year := yoe + era*400
	if month > 12 {
		month -= 12
		year++
	}
	if i := wd * 3; i < 19 {
		b[0], b[1], b[2] = dayNames[i], dayNames[i+1], dayNames[i+2]
	}
	b[3], b[4] = ',', ' '
	b[5], b[6] = byte('0'+day/10), byte('0'+day%10)
	b[7] = ' '
	if i := (month - 1) * 3; i < 34 {
		b[8], b[9], b[10] = monthNames[i], monthNames[i+1], monthNames[i+2]
	}
	b[11] = ' '
	b[12], b[13], b[14], b[15] = byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10)
	b[16] = ' '
	h, m, s := rem/3600, rem/60%60, rem%60
	b[17], b[18], b[19] = byte('0'+h/10), byte('0'+h%10), ':'
	b[20], b[21], b[22] = byte('0'+m/10), byte('0'+m%10), ':'
	b[23], b[24] = byte('0'+s/10), byte('0'+s%10)
	b[25], b[26], b[27], b[28] = ' ', 'G', 'M', 'T'
}
