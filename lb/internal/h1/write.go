package h1

import (
	"bufio"
	"strconv"
)

// StatusText returns the reason phrase of the statuses the proxy answers
// with itself ("" for others).
func StatusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// WriteError writes one of the proxy's own answers: status line,
// Content-Type, Cache-Control: no-store, Content-Length, Connection: close
// when closing, then body unless the request was HEAD (the length stays:
// it is the length a GET would have had).
func WriteError(w *bufio.Writer, code int, contentType string, body []byte, head, closing bool) {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(StatusText(code))
	w.WriteString("\r\nContent-Type: ")
	w.WriteString(contentType)
	w.WriteString("\r\nCache-Control: no-store\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if closing {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if !head {
		w.Write(body)
	}
}

// WriteForwarded writes the X-Forwarded-For, X-Forwarded-Host and
// X-Forwarded-Proto lines of a forwarded request, as
// httputil.ProxyRequest.SetXForwarded does: prior (a trusted peer's
// X-Forwarded-For values, else nil) extended with peer.
func WriteForwarded(w *bufio.Writer, prior [][]byte, peer string, host []byte, tls bool) {
	w.WriteString("X-Forwarded-For: ")
	for _, v := range prior {
		w.Write(v)
		w.WriteString(", ")
	}
	w.WriteString(peer)
	w.WriteString("\r\nX-Forwarded-Host: ")
	w.Write(host)
	if tls {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
}
