// Package subjects declares, in one place, every JetStream stream, subject
// and durable consumer the services talk through. Services never name a
// subject or a stream literally; they use the values here, so the contract
// between them is this file.
//
// The package holds plain data (no NATS types) so the schemas module
// imports nothing but the standard library; services/kit/bus turns these
// declarations into JetStream configs.
package subjects

import (
	"fmt"
	"strings"
	"time"
)

// Stream names.
const (
	// ActivityStream holds every accepted, normalized activity event.
	ActivityStream = "ACTIVITIES"
	// DeadLetterStream holds every rejected input with the reason, the
	// original bytes and the original headers.
	DeadLetterStream = "DEADLETTER"
	// AlertStream holds every alert state change and every notification
	// waiting for delivery.
	AlertStream = "ALERTS"
)

// Subject roots.
const (
	// ActivityPrefix is the root of activity subjects:
	// activities.<community>.<source>.
	ActivityPrefix = "activities"
	// DeadLetterPrefix is the root of dead-letter subjects:
	// deadletter.<stage>.<source>, where stage names who rejected the input
	// (ingest, sink, ...).
	DeadLetterPrefix = "deadletter"
	// IdentityPrefix is the root of identity commands (merge, unmerge,
	// forget): identity.<community>. They share ActivityStream, so they are
	// ordered with the activities; the scoring processor applies them all,
	// the sink applies forgets.
	IdentityPrefix = "identity"
	// AlertChangePrefix is the root of alert state changes:
	// alerts.changes.<community>. One message per change (schemas/alerts.Change).
	AlertChangePrefix = "alerts.changes"
	// AlertDeliveryPrefix is the root of notifications to deliver:
	// alerts.deliveries.<target>. One message per notification and target
	// (schemas/alerts.Delivery), retried on its own.
	AlertDeliveryPrefix = "alerts.deliveries"
	// AlertControl is the request-reply subject (core NATS, in no stream)
	// on which the alert evaluator answers the API and the command line
	// (schemas/alerts.ControlRequest).
	AlertControl = "control.alerts"
)

// Durable consumer names.
const (
	// SinkActivities is the sink's durable pull consumer on ActivityStream.
	SinkActivities = "sink-activities"
	// SinkDeadLetters is the sink's durable pull consumer on DeadLetterStream.
	SinkDeadLetters = "sink-deadletters"
	// AlertDeliveries is the notifier's durable pull consumer on AlertStream.
	AlertDeliveries = "alert-deliveries"
)

// Dead-letter message headers. The payload of a dead-letter message is the
// original bytes, unchanged.
const (
	HeaderReason     = "Orbitflow-Reason"       // why it was rejected, one line
	HeaderStage      = "Orbitflow-Stage"        // who rejected it: ingest, sink, hooks/github ...
	HeaderSource     = "Orbitflow-Source"       // the source the input claimed or came through
	HeaderOrigSubj   = "Orbitflow-Orig-Subject" // the subject it was read from, if any
	HeaderOrigSeq    = "Orbitflow-Orig-Seq"     // the stream sequence it was read from, if any
	HeaderOrigHeader = "Orbitflow-Orig-"        // prefix for copied original headers
	// A payload too large for the dead-letter stream is stored cut short;
	// these record the original's size in bytes and its SHA-256 (hex).
	HeaderTruncated  = "Orbitflow-Payload-Truncated"
	HeaderPayloadSHA = "Orbitflow-Payload-Sha256"
)

// Dead-letter stages.
const (
	StageIngest  = "ingest"
	StageSink    = "sink"
	StageGateway = "gateway" // webhook deliveries
	StageDiscord = "discord" // Discord gateway dispatches
	StageAlerts  = "alerts"  // notifications a target refused too often
)

// Activity returns the subject for an activity of community from source.
// Both must already be valid subject tokens (schemas/events validates them).
// Identity is the subject of a community's identity commands.
func Identity(community string) string { return IdentityPrefix + "." + community }

func Activity(community, source string) string {
	return ActivityPrefix + "." + community + "." + source
}

// ActivityFilter returns a filter subject for one community's activities
// (any source), or all activities when community is "".
func ActivityFilter(community string) string {
	if community == "" {
		return ActivityPrefix + ".>"
	}
	return ActivityPrefix + "." + community + ".*"
}

// AlertChange is the subject of a state change of an alert of community.
func AlertChange(community string) string { return AlertChangePrefix + "." + token(community) }

// AlertDelivery is the subject of a notification for target.
func AlertDelivery(target string) string { return AlertDeliveryPrefix + "." + token(target) }

// DeadLetter returns the dead-letter subject for an input rejected at stage
// that came from source. Tokens that are not subject-safe are replaced by
// "unknown" so a hostile source name cannot change the subject's shape.
func DeadLetter(stage, source string) string {
	return DeadLetterPrefix + "." + token(stage) + "." + token(source)
}

func token(s string) string {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, ".*> \t\r\n") {
		return "unknown"
	}
	return s
}

// Storage is where a stream keeps its messages.
type Storage int

const (
	FileStorage Storage = iota
	MemoryStorage
)

// Discard is what a full stream does with new messages.
type Discard int

const (
	// DiscardNew rejects new messages when full: publishers get an error
	// and nothing acknowledged is dropped. The default for every stream.
	DiscardNew Discard = iota
	// DiscardOld drops the oldest messages to make room.
	DiscardOld
)

// Stream declares one JetStream stream.
type Stream struct {
	Name        string
	Description string
	Subjects    []string
	Storage     Storage
	Discard     Discard
	// Duplicates is the window in which a repeated Nats-Msg-Id is dropped.
	Duplicates time.Duration
	MaxAge     time.Duration // 0 = keep forever
	MaxBytes   int64         // -1 = unlimited
	MaxMsgs    int64         // -1 = unlimited
	MaxMsgSize int32         // bytes; -1 = server default
	Replicas   int
}

// Consumer declares one durable pull consumer.
type Consumer struct {
	Stream        string
	Durable       string
	Description   string
	FilterSubject string
	// AckWait is how long a delivered, unacknowledged message waits before
	// redelivery. It must exceed the longest flush (batch + insert).
	AckWait time.Duration
	// MaxAckPending bounds messages delivered and not yet acknowledged;
	// it must be at least the largest batch a consumer holds.
	MaxAckPending int
	// MaxDeliver bounds redeliveries; -1 = unlimited. The sink uses -1:
	// an activity is dropped only by the dead-letter path, never by a limit.
	MaxDeliver int
}

// Limits are the user-tunable parts of the stream declarations.
type Limits struct {
	Storage    Storage
	Replicas   int
	Duplicates time.Duration
	// ActivityMaxAge and ActivityMaxBytes bound the activity stream; the
	// sink has normally consumed messages long before either matters.
	ActivityMaxAge   time.Duration
	ActivityMaxBytes int64
	DeadMaxAge       time.Duration
	DeadMaxBytes     int64
	// MaxMsgSize is the largest message accepted (bytes). Events are bounded
	// well below it by schemas/events; dead letters carry raw input.
	MaxMsgSize int32
}

// DefaultLimits returns the limits used when the config says nothing.
func DefaultLimits() Limits {
	return Limits{
		Storage:          FileStorage,
		Replicas:         1,
		Duplicates:       2 * time.Hour,
		ActivityMaxAge:   30 * 24 * time.Hour,
		ActivityMaxBytes: 8 << 30,
		DeadMaxAge:       30 * 24 * time.Hour,
		DeadMaxBytes:     1 << 30,
		MaxMsgSize:       1 << 20,
	}
}

// Validate reports every problem with the limits.
func (l Limits) Validate() []error {
	var errs []error
	if l.Replicas < 1 || l.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas: must be 1..5, got %d", l.Replicas))
	}
	if l.Duplicates < time.Second {
		errs = append(errs, fmt.Errorf("duplicate_window: must be at least 1s, got %s", l.Duplicates))
	}
	if l.ActivityMaxAge != 0 && l.ActivityMaxAge < l.Duplicates {
		errs = append(errs, fmt.Errorf("activity_max_age: must be 0 (forever) or at least the duplicate window %s, got %s", l.Duplicates, l.ActivityMaxAge))
	}
	if l.ActivityMaxBytes == 0 || l.ActivityMaxBytes < -1 {
		errs = append(errs, fmt.Errorf("activity_max_bytes: must be -1 (unlimited) or positive, got %d", l.ActivityMaxBytes))
	}
	if l.DeadMaxBytes == 0 || l.DeadMaxBytes < -1 {
		errs = append(errs, fmt.Errorf("dead_letter_max_bytes: must be -1 (unlimited) or positive, got %d", l.DeadMaxBytes))
	}
	if l.MaxMsgSize < 1024 {
		errs = append(errs, fmt.Errorf("max_msg_size: must be at least 1024 bytes, got %d", l.MaxMsgSize))
	}
	return errs
}

// Streams returns every stream the services need, with l applied.
func Streams(l Limits) []Stream {
	return []Stream{
		{
			Name:        ActivityStream,
			Description: "Normalized activity events (schemas/events v1), one subject per community and source.",
			Subjects:    []string{ActivityPrefix + ".>", IdentityPrefix + ".>"},
			Storage:     l.Storage,
			Discard:     DiscardNew,
			Duplicates:  l.Duplicates,
			MaxAge:      l.ActivityMaxAge,
			MaxBytes:    l.ActivityMaxBytes,
			MaxMsgs:     -1,
			MaxMsgSize:  l.MaxMsgSize,
			Replicas:    l.Replicas,
		},
		{
			Name:        DeadLetterStream,
			Description: "Rejected inputs: original bytes and headers, with the reason in " + HeaderReason + ".",
			Subjects:    []string{DeadLetterPrefix + ".>"},
			Storage:     l.Storage,
			Discard:     DiscardNew,
			Duplicates:  l.Duplicates,
			MaxAge:      l.DeadMaxAge,
			MaxBytes:    l.DeadMaxBytes,
			MaxMsgs:     -1,
			MaxMsgSize:  l.MaxMsgSize,
			Replicas:    l.Replicas,
		},
		{
			Name:        AlertStream,
			Description: "Alert state changes and notifications awaiting delivery (schemas/alerts).",
			Subjects:    []string{"alerts.>"},
			Storage:     l.Storage,
			Discard:     DiscardNew,
			// The evaluator republishes the changes of the last hour at
			// start (a crash between the ClickHouse write and the publish);
			// the window must cover them.
			Duplicates: max(l.Duplicates, 2*time.Hour),
			MaxAge:     l.DeadMaxAge,
			MaxBytes:   l.DeadMaxBytes,
			MaxMsgs:    -1,
			MaxMsgSize: l.MaxMsgSize,
			Replicas:   l.Replicas,
		},
	}
}

// AlertConsumer is the notifier's durable consumer: one notification per
// target at a time in flight per message; a refused delivery is retried
// with backoff (the notifier naks with a delay) up to maxDeliver times,
// then dead-lettered.
func AlertConsumer(maxDeliver int) Consumer {
	return Consumer{
		Stream:        AlertStream,
		Durable:       AlertDeliveries,
		Description:   "Alert notifier: webhooks, Slack, e-mail",
		FilterSubject: AlertDeliveryPrefix + ".>",
		AckWait:       2 * time.Minute,
		MaxAckPending: 256,
		MaxDeliver:    maxDeliver + 1,
	}
}

// SinkActivitiesOf is the durable name of the activity consumer of sink
// shard k of n: SinkActivities with one shard.
func SinkActivitiesOf(k, n int) string {
	if n <= 1 {
		return SinkActivities
	}
	return fmt.Sprintf("%s-%d-of-%d", SinkActivities, k, n)
}

// SinkConsumers returns the sink's durable consumers. maxBatch is the largest
// batch the sink holds unacknowledged; flushTimeout the longest a flush may take.
func SinkConsumers(maxBatch int, flushTimeout time.Duration) []Consumer {
	ackWait := 2*flushTimeout + 30*time.Second
	pending := 2 * maxBatch
	return []Consumer{
		{
			Stream:      ActivityStream,
			Durable:     SinkActivities,
			Description: "ClickHouse sink: activities table",
			// The whole stream: activities and identity commands, in
			// order (a forget drops the events after it).
			FilterSubject: "",
			AckWait:       ackWait,
			MaxAckPending: pending,
			MaxDeliver:    -1,
		},
		{
			Stream:        DeadLetterStream,
			Durable:       SinkDeadLetters,
			Description:   "ClickHouse sink: dead_letters table",
			FilterSubject: DeadLetterPrefix + ".>",
			AckWait:       ackWait,
			MaxAckPending: pending,
			MaxDeliver:    -1,
		},
	}
}
