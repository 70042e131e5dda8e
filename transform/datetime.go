package transform

// validDateTime reports whether s is an RFC 3339 date-time (§5.6):
// full-date "T" partial-time time-offset, with "t"/"z" accepted for
// "T"/"Z", any number of fraction digits, a real calendar day, hour 00-23,
// minute 00-59, second 00-60 (60 only as a leap second: at 23:59 UTC) and
// an offset of at most 23:59. It is the one date-time check of package
// transform (routes[].timestamp_field); what it accepts the route's JSON
// Schema "date-time" format accepts too (a fuzz target checks it).
func validDateTime(s string) bool {
	// yyyy-mm-ddThh:mm:ss, then [.frac], then Z or ±hh:mm
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	second, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || second > 60 {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	utcMinutes := hour*60 + minute
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return false
		}
		off := oh*60 + om
		if rest[0] == '+' {
			off = -off
		}
		utcMinutes = ((utcMinutes+off)%(24*60) + 24*60) % (24 * 60)
	default:
		return false
	}
	return second < 60 || utcMinutes == 23*60+59
}

// digits reads s, all ASCII digits, as a number.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn is the number of days of month (1-12) in year (proleptic
// Gregorian).
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
