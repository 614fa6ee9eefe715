// Package chaos holds newswatch's system tests: processes killed with
// SIGKILL at random points, receivers that go down and come back, and a
// three-node NATS cluster that loses a node and a replica mid-run. Each
// test checks the delivery contract end to end: no alert lost, and any
// repeat carries the id of its first delivery.
//
// The tests live here, not next to the code, because they exercise the
// whole system: the binary, the bus, every stage and both sinks.
package chaos
