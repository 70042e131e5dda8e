package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestDropDLQMember: dry-run reads a line of `dlq inspect --output jsonl`
// without its "dlq" member (first, last or between others, nested objects
// in it), every other byte of the line as it is; lines without one, and
// lines that are not JSON objects, pass untouched.
func TestDropDLQMember(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"last", `{"topic":"orders","value":"v","dlq":{"offset":1,"x":{"y":[1,{"dlq":2}]}}}`, `{"topic":"orders","value":"v"}`},
		{"first", `{"dlq":{"offset":1}, "topic":"orders"}`, `{ "topic":"orders"}`},
		{"between, spaces kept", `{ "topic" : "orders" , "dlq" : {} , "value" : "a  b" }`, `{ "topic" : "orders" , "value" : "a  b" }`},
		{"only member", `{"dlq":{}}`, `{}`},
		{"none", `{"topic":"orders","value":{"dlq":1}}`, `{"topic":"orders","value":{"dlq":1}}`},
		{"in a string only", `{"topic":"orders","value":"\"dlq\""}`, `{"topic":"orders","value":"\"dlq\""}`},
		{"not an object", `["dlq"]`, `["dlq"]`},
		{"not JSON", `nonsense "dlq"`, `nonsense "dlq"`},
		{"broken after it", `{"dlq":{},"topic":`, `{"dlq":{},"topic":`},
		{"value bytes kept", `{"topic":"o","value":"{\u0022a\u0022:\u00261}","dlq":1}`, `{"topic":"o","value":"{\u0022a\u0022:\u00261}"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(dropMember([]byte(tc.in), "dlq")); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestWithoutDLQMemberReader: the reader drops the member line by line,
// keeps line ends and a last line without one, reads through one byte
// at a time, and passes a line longer than it looks into as it is.
func TestWithoutDLQMemberReader(t *testing.T) {
	const max = 1 << 20
	long := `{"topic":"o","value":"` + strings.Repeat("v", max) + `","dlq":{}}`
	for _, tc := range []struct{ name, in, want string }{
		{"lines", "{\"topic\":\"a\",\"dlq\":{}}\n\n{\"topic\":\"b\"}\r\n{\"dlq\":1,\"topic\":\"c\"}", "{\"topic\":\"a\"}\n\n{\"topic\":\"b\"}\r\n{\"topic\":\"c\"}"},
		{"empty", "", ""},
		{"too long: as it is", long + "\n{\"topic\":\"a\",\"dlq\":{}}\n", long + "\n{\"topic\":\"a\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, slow := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if slow {
					r = iotest.OneByteReader(r)
				}
				got, err := io.ReadAll(&dlqMemberReader{r: bufio.NewReaderSize(r, 64<<10), max: max})
				if err != nil || !bytes.Equal(got, []byte(tc.want)) {
					t.Errorf("slow %v: %d bytes, %v; want %d bytes:\n%.200q\n%.200q", slow, len(got), err, len(tc.want), got, tc.want)
				}
			}
		})
	}
	// A read error reaches dry-run.
	_, err := io.ReadAll(withoutDLQMember(iotest.TimeoutReader(strings.NewReader("{\"topic\":\"a\"}\n{\"topic\":\"b\"}\n"))))
	if err == nil {
		t.Error("read error lost")
	}
}
