package ops

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// maxBody bounds request bodies; nothing the API takes is larger.
const maxBody = 64 << 10

// Handler serves the admin API for b:
//
//	GET    /v1/status
//	GET    /health, GET /ready (health.go)
//	GET    /v1/users?domain=D
//	POST   /v1/users                 {"jid": "...", "password": "..."}
//	PUT    /v1/users/{jid}/password  {"password": "..."}
//	DELETE /v1/users/{jid}
//	GET    /v1/sessions
//	GET    /v1/users/{jid}/roster
//	PUT    /v1/users/{jid}/roster/{contact}  {"name": "...", "groups": ["..."]}
//	DELETE /v1/users/{jid}/roster/{contact}
//	GET    /v1/users/{jid}/pending
//	POST   /v1/users/{jid}/pending/{contact}/approve
//	POST   /v1/users/{jid}/pending/{contact}/deny
//	GET    /v1/users/{jid}/offline, GET /v1/offline (offline.go)
func Handler(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", h.status)
	mux.HandleFunc("GET /v1/users", h.listUsers)
	mux.HandleFunc("POST /v1/users", h.createUser)
	mux.HandleFunc("PUT /v1/users/{jid}/password", h.setPassword)
	mux.HandleFunc("DELETE /v1/users/{jid}", h.deleteUser)
	mux.HandleFunc("GET /v1/sessions", h.sessions)
	mux.HandleFunc("GET /v1/users/{jid}/roster", h.roster)
	mux.HandleFunc("PUT /v1/users/{jid}/roster/{contact}", h.setRosterItem)
	mux.HandleFunc("DELETE /v1/users/{jid}/roster/{contact}", h.removeRosterItem)
	mux.HandleFunc("GET /v1/users/{jid}/pending", h.pending)
	mux.HandleFunc("POST /v1/users/{jid}/pending/{contact}/approve", h.approve)
	mux.HandleFunc("POST /v1/users/{jid}/pending/{contact}/deny", h.deny)
	mux.HandleFunc("GET /v1/s2s/links", h.links)
	mux.HandleFunc("GET /v1/s2s/resolve/{domain}", h.resolve)
	mux.HandleFunc("GET /v1/cluster", h.cluster)
	mux.HandleFunc("POST /v1/cluster/members", h.joinNode)
	mux.HandleFunc("DELETE /v1/cluster/members/{id}", h.removeNode)
	mux.HandleFunc("POST /v1/cluster/stepdown", h.stepdown)
	mux.HandleFunc("GET /v1/snapshot", h.snapshot)
	h.routeOffline(mux)
	mux.Handle("GET /metrics", Metrics(b))
	HealthRoutes(mux, b)
	limitRoutes(mux, h)
	componentRoutes(mux, h)
	return mux
}

type handler struct {
	b   Backend
	log *slog.Logger
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	h.reply(w, st, err)
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := h.b.ListUsers(r.Context(), r.URL.Query().Get("domain"))
	if users == nil {
		users = []string{}
	}
	h.reply(w, map[string][]string{"users": users}, err)
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if !h.decode(w, r, &u) {
		return
	}
	err := h.b.CreateUser(r.Context(), u.JID, u.Password)
	if err == nil {
		w.WriteHeader(http.StatusCreated)
		return
	}
	h.reply(w, nil, err)
}

func (h *handler) setPassword(w http.ResponseWriter, r *http.Request) {
	var u User
	if !h.decode(w, r, &u) {
		return
	}
	h.reply(w, nil, h.b.SetPassword(r.Context(), r.PathValue("jid"), u.Password))
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.DeleteUser(r.Context(), r.PathValue("jid")))
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	list, err := h.b.Sessions(r.Context())
	if list == nil {
		list = []Session{}
	}
	h.reply(w, map[string][]Session{"sessions": list}, err)
}

func (h *handler) roster(w http.ResponseWriter, r *http.Request) {
	ro, err := h.b.Roster(r.Context(), r.PathValue("jid"))
	// The shape is fixed: empty lists are [], never null.
	if ro.Items == nil {
		ro.Items = []RosterItem{}
	}
	for i := range ro.Items {
		if ro.Items[i].Groups == nil {
			ro.Items[i].Groups = []string{}
		}
	}
	h.reply(w, ro, err)
}

func (h *handler) setRosterItem(w http.ResponseWriter, r *http.Request) {
	var set RosterSet
	if !h.decode(w, r, &set) {
		return
	}
	h.reply(w, nil, h.b.SetRosterItem(r.Context(), r.PathValue("jid"), r.PathValue("contact"), set.Name, set.Groups))
}

func (h *handler) removeRosterItem(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.RemoveRosterItem(r.Context(), r.PathValue("jid"), r.PathValue("contact")))
}

func (h *handler) pending(w http.ResponseWriter, r *http.Request) {
	list, err := h.b.Pending(r.Context(), r.PathValue("jid"))
	if list == nil {
		list = []Pending{}
	}
	h.reply(w, list, err)
}

func (h *handler) approve(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.ApproveRequest(r.Context(), r.PathValue("jid"), r.PathValue("contact")))
}

func (h *handler) deny(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.DenyRequest(r.Context(), r.PathValue("jid"), r.PathValue("contact")))
}

func (h *handler) links(w http.ResponseWriter, r *http.Request) {
	list, err := h.b.Links(r.Context())
	if list == nil {
		list = []Link{}
	}
	h.reply(w, map[string][]Link{"links": list}, err)
}

func (h *handler) resolve(w http.ResponseWriter, r *http.Request) {
	list, err := h.b.Resolve(r.Context(), r.PathValue("domain"))
	if list == nil {
		list = []Target{}
	}
	h.reply(w, map[string][]Target{"targets": list}, err)
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Cluster(r.Context())
	h.reply(w, st, err)
}

func (h *handler) joinNode(w http.ResponseWriter, r *http.Request) {
	var m Member
	if !h.decode(w, r, &m) {
		return
	}
	h.reply(w, nil, h.b.JoinNode(r.Context(), m.ID, m.Addr, r.URL.Query().Get("force") == "true"))
}

func (h *handler) removeNode(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.RemoveNode(r.Context(), r.PathValue("id"), r.URL.Query().Get("force") == "true"))
}

func (h *handler) stepdown(w http.ResponseWriter, r *http.Request) {
	h.reply(w, nil, h.b.Stepdown(r.Context()))
}

// snapshot streams a consistent copy of the state. It is written to a
// temporary file first, so that a failure is an error status rather than
// a truncated download.
func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	f, err := os.CreateTemp("", "herald-snapshot-*")
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := h.b.Snapshot(r.Context(), f); err != nil {
		h.reply(w, nil, err)
		return
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		h.reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	io.Copy(w, f)
}

func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		h.reply(w, nil, errors.Join(ErrBadRequest, errors.New("the request body is not valid JSON for this call: "+err.Error())))
		return false
	}
	return true
}

// reply writes v as JSON, or err as the one error translation of the API.
func (h *handler) reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status, code := http.StatusInternalServerError, "internal"
		msg := "internal error; see the server log"
		switch {
		case errors.Is(err, ErrNotFound):
			status, code, msg = http.StatusNotFound, "not_found", userText(err)
		case errors.Is(err, ErrExists):
			status, code, msg = http.StatusConflict, "exists", userText(err)
		case errors.Is(err, ErrBadRequest):
			status, code, msg = http.StatusBadRequest, "bad_request", userText(err)
		case errors.Is(err, ErrNoQuorum):
			status, code = http.StatusServiceUnavailable, "no_quorum"
			msg = "the cluster cannot accept writes; nothing was changed, try again later (" + userText(err) + ")"
		case errors.Is(err, ErrOutcomeUnknown):
			status, code = http.StatusGatewayTimeout, "outcome_unknown"
			msg = "the write may or may not have been applied; check before trying again (" + userText(err) + ")"
		case errors.Is(err, ErrUnavailable):
			status, code, msg = http.StatusServiceUnavailable, "unavailable", userText(err)
		case errors.Is(err, ErrRefused):
			status, code, msg = http.StatusConflict, "refused", userText(err)
		default:
			h.log.Error("admin API call failed", "err", err)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(errorBody{Error: msg, Code: code})
		return
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	json.NewEncoder(w).Encode(v)
}

// userText strips the sentinel wording ("ops: bad request: ") so the
// message reads as a sentence for an operator.
func userText(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrNotFound, ErrExists, ErrBadRequest, ErrNoQuorum, ErrOutcomeUnknown, ErrUnavailable} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	return strings.TrimPrefix(msg, "ops: ")
}
