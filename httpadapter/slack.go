package httpadapter

func (h *Handler) slackRoutes() []route { return nil }
