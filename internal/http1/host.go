package http1

// The Host field's grammar (RFC 9112 section 3.2, RFC 3986 section 3.2.2):
//
//	Host       = uri-host [ ":" port ]
//	uri-host   = IP-literal / IPv4address / reg-name
//	IP-literal = "[" ( IPv6address / IPvFuture ) "]"
//	IPvFuture  = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
//	reg-name   = *( unreserved / pct-encoded / sub-delims )
//	port       = *DIGIT
//
// An IPv4address is a reg-name too. A server MUST answer 400 to a Host
// value outside it. net/http's server is more lenient (httpguts.
// ValidHostHeader lets "[::1", "a:80:80", "a[b" or "%zz" pass): the RFC
// wins, and reference_test.go holds the grammar as a regular expression.

// validHost reports whether h is a Host value of the grammar above.
//
//go:norace
//go:nocheckptr
func validHost(h []byte) bool {
	i := 0
	if len(h) > 0 && h[0] == '[' {
		end := index(h, ']')
		if end < 0 || !validIPLiteral(h[1:end]) {
			return false
		}
		i = end + 1
	} else {
		for i < len(h) && h[i] != ':' {
			switch c := h[i]; {
			case c == '%':
				if i+2 >= len(h) || !isHex(h[i+1]) || !isHex(h[i+2]) {
					return false
				}
				i += 3
				continue
			case !isUnreserved(c) && !isSubDelim(c):
				return false
			}
			i++
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' {
		return false
	}
	for i++; i < len(h); i++ {
		if h[i] < '0' || h[i] > '9' {
			return false
		}
	}
	return true
}

// validIPLiteral reports whether b (between the brackets) is an
// IPv6address or an IPvFuture. (netip's IPv6 syntax, validIPv6, is RFC
// 3986's IPv6address: eight pieces, the last two maybe an IPv4address
// without leading zeros, or fewer around one "::".)
//
//go:norace
//go:nocheckptr
func validIPLiteral(b []byte) bool {
	if len(b) == 0 || (b[0] != 'v' && b[0] != 'V') {
		return validIPv6(b)
	}
	i := 1
	for i < len(b) && isHex(b[i]) {
		i++
	}
	if i == 1 || i+1 >= len(b) || b[i] != '.' {
		return false
	}
	for i++; i < len(b); i++ {
		if c := b[i]; !isUnreserved(c) && !isSubDelim(c) && c != ':' {
			return false
		}
	}
	return true
}

//go:norace
//go:nocheckptr
func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}

// isUnreserved is RFC 3986's unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
//
//go:norace
//go:nocheckptr
func isUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}

// isSubDelim is RFC 3986's sub-delims.
//
//go:norace
//go:nocheckptr
func isSubDelim(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}
