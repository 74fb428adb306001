package session

import (
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/conn"
	"github.com/atgt/atgt/actors/sched"
)

// Accepted hands a newly accepted TCP connection to the session manager.
type Accepted struct{ Conn net.Conn }

// LogoutAll asks every session's initiator to log out within Within (the target is
// stopping).
type LogoutAll struct{ Within time.Duration }

// CountSessions asks the manager how many sessions are alive (logged in or logging
// in); it answers Sessions.
type CountSessions struct{}

// Sessions answers CountSessions.
type Sessions struct{ N int }

// ManagerProps returns the session manager's props: it gives each accepted connection
// a session (with a fresh TSIH) and ends an older session when an initiator port logs
// in again with the same ISID (session reinstatement). Sessions that fail are
// stopped, not restarted: their state lives with the initiator's connection.
func ManagerProps(connCfg conn.Config, log hclog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &manager{connCfg: connCfg, log: log, byKey: map[string]*actor.PID{}, keyOf: map[string]string{}}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })),
		actor.WithDispatcher(sched.Default))
}

type manager struct {
	connCfg conn.Config
	log     hclog.Logger
	tsih    uint16
	byKey   map[string]*actor.PID
	keyOf   map[string]string // session PID id -> key
}

// Receive handles accepted connections and session lifecycle.
func (m *manager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *Accepted:
		m.tsih++
		if m.tsih == 0 {
			m.tsih = 1
		}
		ctx.Spawn(Props(Config{Conn: msg.Conn, ConnCfg: m.connCfg, TSIH: m.tsih, Manager: ctx.Self(), Log: m.log}))
	case *Up:
		if old, ok := m.byKey[msg.Key]; ok && !old.Equal(msg.PID) {
			m.log.Info("session reinstatement: ending the previous session of this initiator port")
			ctx.Stop(old)
		}
		m.byKey[msg.Key] = msg.PID
		m.keyOf[msg.PID.Id] = msg.Key
	case *LogoutAll:
		for _, pid := range ctx.Children() {
			ctx.Send(pid, &conn.RequestLogout{Within: msg.Within})
		}
	case *CountSessions:
		ctx.Respond(&Sessions{N: len(ctx.Children())})
	case *actor.Terminated:
		if key, ok := m.keyOf[msg.Who.Id]; ok {
			delete(m.keyOf, msg.Who.Id)
			if p := m.byKey[key]; p != nil && p.Equal(msg.Who) {
				delete(m.byKey, key)
			}
		}
	}
}
