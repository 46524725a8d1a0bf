package http1

//go:norace
//go:nocheckptr
func index(b []byte, c byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

//go:norace
//go:nocheckptr
func lastIndex(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// isTokenChar is textproto's validHeaderFieldByte (RFC 9110 tchar).
//
//go:norace
//go:nocheckptr
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

//go:norace
//go:nocheckptr
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !isTokenChar(b[i]) {
			return false
		}
	}
	return true
}

// equalFold compares b with the lower-case ASCII literal s, ignoring
// ASCII case (internal/ascii.EqualFold).
//
//go:norace
//go:nocheckptr
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

//go:norace
//go:nocheckptr
func equal(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != s[i] {
			return false
		}
	}
	return true
}

// trimSpace is textproto.TrimString: ASCII SP, HT, CR, LF at both ends.
//
//go:norace
//go:nocheckptr
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

//go:norace
//go:nocheckptr
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
