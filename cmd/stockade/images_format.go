package main

import (
	"strings"
	"time"

	"github.com/stockade/stockade/image"
)

// imageRow is one image as images --format templates see it, with
// docker's field names where stockade has the value.
type imageRow struct {
	Repository   string
	Tag          string
	ID           string
	Name         string
	Platform     string
	Layers       int
	Size         string
	CreatedSince string
	CreatedAt    string
}

// imageTitles are the column titles of images tables.
var imageTitles = map[string]string{"ID": "IMAGE ID", "CreatedSince": "PULLED", "CreatedAt": "PULLED AT"}

func newImageRow(r *image.Record, now time.Time, full bool) imageRow {
	repo, tag := r.Name, ""
	if i := strings.LastIndex(r.Name, ":"); i > strings.LastIndex(r.Name, "/") {
		repo, tag = r.Name[:i], r.Name[i+1:]
	}
	if at := strings.Index(repo, "@"); at >= 0 {
		repo = repo[:at]
	}
	if r.Untagged {
		repo, tag = "<none>", "<none>" // as docker shows a dangling image
	}
	id := r.ShortID()
	if full {
		id = r.ID.String()
	}
	return imageRow{
		Repository: repo, Tag: tag, ID: id, Name: r.DisplayName(), Platform: image.FormatPlatform(r.Platform),
		Layers: len(r.Layers), Size: humanSize(r.Size), CreatedSince: ago(now, r.Pulled),
		CreatedAt: r.Pulled.Local().Format("2006-01-02 15:04:05 -0700 MST"),
	}
}

// imagesTemplate prints images through an images --format template.
func (a *app) imagesTemplate(f *outputFormat, recs []image.Record, full bool) error {
	now := time.Now()
	rows := make([]any, len(recs))
	for i := range recs {
		rows[i] = newImageRow(&recs[i], now, full)
	}
	fields := []string{"Repository", "Tag", "ID", "Name", "Platform", "Layers", "Size", "CreatedSince", "CreatedAt"}
	return f.render(a.stdout, rows, headerTitles(fields, imageTitles))
}
