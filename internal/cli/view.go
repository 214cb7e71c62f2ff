package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// Every verb renders its result through a view: the human view, text on
// stdout, or the JSON view with --json. The JSON view writes on failure
// too: the result so far with "error" and "exitCode" added, or only those
// two when there is no result; Main writes the latter for a failure before
// any verb ran (bad flags, no project). So a program reading --json output
// always gets one JSON document (phoenix logs: one per line).

// show writes res through human, or as JSON when asJSON, and returns err.
// The human view is only shown on success: the error says what happened.
func (f *Factory) show(asJSON bool, res any, err error, human func(io.Writer) error) error {
	if asJSON {
		return f.showJSON(res, err)
	}
	if err != nil {
		return err
	}
	return human(f.IO.Out)
}

// showPartial is show for verbs whose human view also says what was done
// before a failure (gc destroys versions one by one).
func (f *Factory) showPartial(asJSON bool, res any, err error, human func(io.Writer) error) error {
	if asJSON {
		return f.showJSON(res, err)
	}
	if herr := human(f.IO.Out); herr != nil && err == nil {
		return herr
	}
	return err
}

func (f *Factory) showJSON(res any, err error) error {
	f.wroteJSON = true
	if werr := writeResult(f.IO.Out, res, err); werr != nil && err == nil {
		return werr
	}
	return err
}

// showPlan writes preview's plan to out in format. Its JSON view is one
// document, as every verb's: the plan, with the error and exit code of its
// violations when there are any. The other formats leave err to stderr.
func (f *Factory) showPlan(out io.Writer, plan orchestrator.Plan, format string, err error) error {
	if format == "json" {
		f.wroteJSON = out == f.IO.Out
		if werr := writeResult(out, maskPlan(plan), err); werr != nil {
			return werr
		}
		return err
	}
	if rerr := RenderPlan(out, plan, format); rerr != nil {
		return rerr
	}
	return err
}

// showLines is the view of a verb whose result is a stream (phoenix
// logs): each item goes through human, or with asJSON as one compact JSON
// object per line; end returns the verb's error, written with asJSON as
// the stream's last line.
func showLines[T any](f *Factory, asJSON bool, human func(io.Writer, T) error) (each func(T) error, end func(error) error) {
	enc := json.NewEncoder(f.IO.Out)
	each = func(item T) error {
		if asJSON {
			return enc.Encode(item)
		}
		return human(f.IO.Out, item)
	}
	end = func(err error) error {
		if err != nil && asJSON {
			return f.showJSONLine(err)
		}
		return err
	}
	return each, end
}

// showJSONLine writes a failure as one compact JSON line, for views that
// write a JSON object per line.
func (f *Factory) showJSONLine(err error) error {
	f.wroteJSON = true
	b, merr := json.Marshal(struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exitCode"`
	}{err.Error(), exitCode(err)})
	if merr == nil {
		fmt.Fprintf(f.IO.Out, "%s\n", b)
	}
	return err
}

// writeResult writes res as indented JSON; with err, res's object gains
// "error" and "exitCode" (a result that is not an object is left out).
func writeResult(w io.Writer, res any, err error) error {
	if err == nil {
		return writeJSON(w, res)
	}
	obj := []byte("{}")
	if res != nil {
		b, merr := json.Marshal(res)
		if merr != nil {
			return merr
		}
		if len(b) > 0 && b[0] == '{' {
			obj = b
		}
	}
	tail, merr := json.Marshal(struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exitCode"`
	}{err.Error(), exitCode(err)})
	if merr != nil {
		return merr
	}
	// {..."a":1} + {"error":...} = {..."a":1,"error":...}
	joined := []byte("{")
	if head := bytes.TrimSuffix(bytes.TrimSpace(obj), []byte("}")); len(head) > 1 {
		joined = append(bytes.Clone(head), ',')
	}
	joined = append(joined, tail[1:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, werr := w.Write(out.Bytes())
	return werr
}

// wantsJSON reports whether args ask for JSON output: --json, or preview's
// --format json, its other spelling.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--json", a == "--json=true", a == "--format=json":
			return true
		case a == "--format" && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// failedJSON writes the JSON view of a failure that no verb rendered.
func (f *Factory) failedJSON(args []string, err error) {
	if err == nil || f.wroteJSON || !wantsJSON(args) || slices.Contains(args, "--help") {
		return
	}
	if werr := writeResult(f.IO.Out, nil, err); werr != nil {
		fmt.Fprintf(f.IO.ErrOut, "phoenix: writing the JSON result: %v\n", werr)
	}
}
