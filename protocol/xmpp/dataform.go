package xmpp

// Data forms (XEP-0004), as the MUC configuration, room info and MAM
// queries use them.

// form builds a jabber:x:data form.
type form struct{ el *Element }

// newForm starts a form of type typ ("form", "submit", "result") with a
// hidden FORM_TYPE field (XEP-0068).
func newForm(typ, formType string) *form {
	f := &form{el: NewElement(nsDataForms, "x", "type", typ)}
	if formType != "" {
		f.add("FORM_TYPE", "hidden", "", formType)
	}
	return f
}

// add appends a field; options are (label, value) pairs for list fields.
func (f *form) add(v, typ, label string, values ...string) *Element {
	fl := NewElement(nsDataForms, "field", "var", v, "type", typ, "label", label)
	for _, val := range values {
		fl.Append(NewElement(nsDataForms, "value").AppendText(val))
	}
	f.el.Append(fl)
	return fl
}

// field appends a text-single field (the type is omitted in results).
func (f *form) field(v, label, value string) { f.add(v, "", label, value) }

// option adds a choice to a list field.
func option(field *Element, label, value string) {
	field.Append(NewElement(nsDataForms, "option", "label", label).Append(NewElement(nsDataForms, "value").AppendText(value)))
}

// formValues reads a submitted form into var → values.
func formValues(x *Element) map[string][]string {
	out := make(map[string][]string)
	if x == nil {
		return out
	}
	for _, f := range x.Elements() {
		if f.Name.Local != "field" {
			continue
		}
		v := f.AttrValue("var")
		vals := []string{}
		for _, val := range f.Elements() {
			if val.Name.Local == "value" {
				vals = append(vals, val.Text())
			}
		}
		out[v] = vals
	}
	return out
}

// first returns a field's first value.
func first(values map[string][]string, v string) (string, bool) {
	vals, ok := values[v]
	if !ok || len(vals) == 0 {
		return "", ok
	}
	return vals[0], true
}

// formBool parses an XEP-0004 boolean.
func formBool(s string) (bool, bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}
