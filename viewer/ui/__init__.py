"""Qt views of the viewer: viewports, patient banners and the comparison window."""
