package transform

// RepeatsMember is repeatsMember for the external tests.
var RepeatsMember = repeatsMember
