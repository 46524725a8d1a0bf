package http1

// validRequestURI reports whether url.ParseRequestURI accepts target (as
// "http://"+target for a CONNECT whose target does not start with "/").
//
//go:norace
//go:nocheckptr
func validRequestURI(t []byte, connect, strictColons bool) bool {
	for i := 0; i < len(t); i++ {
		if t[i] < ' ' || t[i] == 0x7f {
			return false
		}
	}
	if connect {
		if q := index(t, '?'); q >= 0 {
			t = t[:q]
		}
		a := t
		if s := index(t, '/'); s >= 0 {
			a, t = t[:s], t[s:]
		} else {
			t = nil
		}
		return validAuthority(a, true, strictColons) && unescapeOK(t, escPath)
	}
	if len(t) == 0 {
		return false
	}
	if len(t) == 1 && t[0] == '*' {
		return true
	}
	var scheme []byte
	rest := t
	for i := 0; i < len(t); i++ {
		c := t[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			continue
		}
		if '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.' {
			if i == 0 {
				break
			}
			continue
		}
		if c == ':' {
			if i == 0 {
				return false // missing protocol scheme
			}
			scheme, rest = t[:i], t[i+1:]
		}
		break
	}
	if q := index(rest, '?'); q >= 0 {
		rest = rest[:q]
	}
	if len(rest) == 0 || rest[0] != '/' {
		return len(scheme) > 0 // opaque, or no valid request URI
	}
	if len(scheme) > 0 && len(rest) >= 2 && rest[1] == '/' {
		a := rest[2:]
		rest = nil
		if s := index(a, '/'); s >= 0 {
			a, rest = a[:s], a[s:]
		}
		http := equalFold(scheme, "http") || equalFold(scheme, "https")
		if !validAuthority(a, http, strictColons) {
			return false
		}
	}
	return unescapeOK(rest, escPath)
}

// url's unescape modes that matter here.
const (
	escPath = iota // also userinfo: only the %XX syntax is checked
	escHost
	escZone
)

//go:norace
//go:nocheckptr
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isHostByte reports whether net/url lets c stand unescaped in a host
// (or zone).
//
//go:norace
//go:nocheckptr
func isHostByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '"', '$', '&', '\'', '(', ')', '*', '+', ',', '-', '.', ':', ';', '<', '=', '>', '[', ']', '_', '~':
		return true
	}
	return false
}

// unescapeOK reports whether url's unescape(s, mode) succeeds.
//
//go:norace
//go:nocheckptr
func unescapeOK(s []byte, mode int) bool {
	for len(s) > 0 {
		if s[0] != '%' {
			if mode != escPath && s[0] < 0x80 && !isHostByte(s[0]) {
				return false
			}
			s = s[1:]
			continue
		}
		if len(s) < 3 {
			return false
		}
		hi, ok1 := unhex(s[1])
		lo, ok2 := unhex(s[2])
		if !ok1 || !ok2 {
			return false
		}
		pct25 := hi == 2 && lo == 5
		if mode == escHost && hi < 8 && !pct25 {
			return false
		}
		if mode == escZone {
			v := hi<<4 | lo
			if !pct25 && v != ' ' && (v >= 0x80 || !isHostByte(v)) {
				return false
			}
		}
		s = s[3:]
	}
	return true
}

// validAuthority is url's parseAuthority.
//
//go:norace
//go:nocheckptr
func validAuthority(a []byte, http, strictColons bool) bool {
	at := lastIndex(a, '@')
	if at < -1 || at >= len(a) || !validURLHost(a[at+1:], http, strictColons) {
		return false
	}
	if at < 0 {
		return true
	}
	user := a[:at]
	for i := 0; i < len(user); i++ {
		c := user[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '-', '.', '_', ':', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%', '@':
			continue
		}
		return false
	}
	return unescapeOK(user, escPath)
}

//go:norace
//go:nocheckptr
func validPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// validURLHost is url's parseHost.
//
//go:norace
//go:nocheckptr
func validURLHost(h []byte, http, strictColons bool) bool {
	lb := lastIndex(h, '[')
	if lb > 0 {
		return false
	}
	if lb == 0 {
		rb := lastIndex(h, ']')
		if rb < 1 || rb >= len(h) || !validPort(h[rb+1:]) {
			return false
		}
		name := h[1:rb]
		for i := 0; i < len(name); i++ {
			if z := name[i:]; len(z) >= 3 && z[0] == '%' && z[1] == '2' && z[2] == '5' {
				return unescapeOK(name[:i], escHost) && unescapeOK(z, escZone) &&
					len(z) > 3 && validIPv6(name[:i])
			}
		}
		return unescapeOK(name, escHost) && validIPv6(name)
	}
	if c := index(h, ':'); c >= 0 {
		if lc := lastIndex(h, ':'); lc != c && (!http || !strictColons) {
			c = lc
		}
		if c < 0 || c >= len(h) || !validPort(h[c:]) {
			return false
		}
	}
	return unescapeOK(h, escHost)
}

// validIPv6 is netip's parseIPv6 without a zone.
//
//go:norace
//go:nocheckptr
func validIPv6(s []byte) bool {
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, uint32(0)
		for ; off < len(s); off++ {
			v, ok := unhex(s[off])
			if !ok {
				break
			}
			acc = acc<<4 + uint32(v)
			if off > 3 || acc > 0xffff {
				return false
			}
		}
		if off <= 0 || off > len(s) {
			return false
		}
		if uint(off) < uint(len(s)) && s[off] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 || !validIPv4(s) {
				return false
			}
			s = nil
			i += 4
			break
		}
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return false
	}
	if i < 16 {
		return ellipsis >= 0
	}
	return ellipsis < 0
}

// validIPv4 is netip's parseIPv4Fields.
//
//go:norace
//go:nocheckptr
func validIPv4(s []byte) bool {
	val, pos, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' || pos == 3 {
				return false
			}
			pos++
			val, digits = 0, 0
		default:
			return false
		}
	}
	return pos == 3
}
