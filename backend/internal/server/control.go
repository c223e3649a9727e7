package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/lblab/lblab/backend/internal/settings"
)

// maxControlBody bounds a PUT /__backend__/config body.
const maxControlBody = 1 << 20

// configBody is the JSON of GET /__backend__/config: the name plus the settings.
type configBody struct {
	Name string `json:"name"`
	settings.Settings
}

func (s *Server) handleGetConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, configBody{Name: s.name, Settings: s.Settings()})
}

// handlePutConfig applies a partial JSON object of settings; a bad or unknown
// field answers 400 naming it, and nothing changes.
func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "read body: " + err.Error()})
		return
	}
	next, err := s.Update(func(cur settings.Settings) (settings.Settings, error) {
		return cur.Apply(body)
	})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: oneLine(err), Fields: settings.Fields(err)})
		return
	}
	writeJSON(w, http.StatusOK, configBody{Name: s.name, Settings: next})
}

func (s *Server) handleHealthSet(healthy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		next, _ := s.Update(func(cur settings.Settings) (settings.Settings, error) {
			cur.Healthy = healthy
			return cur, nil
		})
		writeJSON(w, http.StatusOK, configBody{Name: s.name, Settings: next})
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) handleStatsReset(w http.ResponseWriter, _ *http.Request) {
	s.stats.reset()
	writeJSON(w, http.StatusOK, s.Stats())
}

// oneLine joins a multi-line (errors.Join) message with "; ".
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
