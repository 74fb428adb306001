// Package messages holds atgt's wire formats: the protobuf messages that actors
// exchange (generated into atgtv1 from ../proto) and the iSCSI and SCSI codecs.
package messages

//go:generate protoc -I ../proto --go_out=. --go_opt=module=github.com/atgt/atgt/messages --connect-go_out=. --connect-go_opt=module=github.com/atgt/atgt/messages atgt/v1/config.proto atgt/v1/task.proto atgt/v1/trace.proto atgt/v1/admin.proto atgt/v1/faults.proto
